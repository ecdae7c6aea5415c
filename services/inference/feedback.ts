import { ValidationError } from './errors';
import type { Feedback, PredictionItem } from './prediction';

/** Longest label a caller may send (labels are the model's own, far shorter). */
export const MAX_LABEL_LENGTH = 256;

/**
 * Only the caller that made an API prediction may label it: stream, batch and synthetic predictions
 * have no owner on the API, so nobody may (the same 404 as a missing id, so existence is not shown).
 */
export function mayGiveFeedback(item: PredictionItem, caller: string): boolean {
  return item.source === 'api' && item.caller === caller;
}

/**
 * The feedback body `{"label": "..."}` for a classifier's prediction or `{"value": n}` for a
 * regressor's, matching what the prediction answered.
 * @throws ValidationError (400 InvalidFeedback) naming what is wrong.
 */
export function parseFeedback(body: unknown, item: PredictionItem, now: Date): Feedback {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ValidationError('InvalidFeedback', 'The body must be a JSON object.');
  }
  const fields = Object.keys(body);
  const classification = 'label' in item.prediction;
  const expected = classification ? 'label' : 'value';
  if (fields.length !== 1 || fields[0] !== expected) {
    throw new ValidationError(
      'InvalidFeedback',
      classification
        ? 'Send {"label": "<the true label>"} for a classification.'
        : 'Send {"value": <the true value>} for a regression.',
    );
  }
  const truth = (body as Record<string, unknown>)[expected];
  const receivedAt = now.toISOString();
  if (classification) {
    if (typeof truth !== 'string' || truth.length === 0 || truth.length > MAX_LABEL_LENGTH) {
      throw new ValidationError(
        'InvalidFeedback',
        `label must be a string of 1 to ${MAX_LABEL_LENGTH} characters.`,
      );
    }
    return { label: truth, receivedAt };
  }
  if (typeof truth !== 'number' || !Number.isFinite(truth)) {
    throw new ValidationError('InvalidFeedback', 'value must be a finite number.');
  }
  return { value: truth, receivedAt };
}
