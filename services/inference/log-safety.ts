import { DomainError, UpstreamError } from './errors';

/**
 * Log lines never carry request payloads (feature values). Handlers log only codes, status and
 * ids of their own, but an error's message is a dependency's text, and dependencies echo input:
 * lib-dynamodb's marshalling error names the number it refused, a model container may quote a row.
 * These helpers keep an error loggable (name, code, status, where it came from) with every number
 * literal that could be a feature value masked.
 */

/** Decimal and exponent literals and long digit runs; not ports, status codes or dotted addresses. */
const numberLiteral = /(?<![\w.])[-+]?(?:\d+\.\d+(?:e[-+]?\d+)?|\d+e[-+]?\d+|\d{6,})(?![\w.])/gi;

/** `text` with every number literal that could be a feature value replaced by `<number>`. */
export function maskNumbers(text: string): string {
  return text.replace(numberLiteral, '<number>');
}

/** Attributes of an error for a structured log line, safe to write at any level. */
export function loggableError(error: unknown, depth = 0): Record<string, unknown> {
  if (!(error instanceof Error)) return { value: maskNumbers(String(error)) };
  const details: Record<string, unknown> = { name: error.name, message: maskNumbers(error.message) };
  if (error instanceof DomainError)
    Object.assign(details, { code: error.code, statusCode: error.statusCode });
  if (error instanceof UpstreamError) details.kind = error.kind;
  const fields = error as Error & {
    readonly $metadata?: { readonly httpStatusCode?: number; readonly requestId?: string };
    readonly OriginalStatusCode?: number;
    readonly LogStreamArn?: string;
  };
  if (fields.$metadata?.httpStatusCode !== undefined)
    details.httpStatusCode = fields.$metadata.httpStatusCode;
  if (fields.$metadata?.requestId !== undefined) details.awsRequestId = fields.$metadata.requestId;
  if (fields.OriginalStatusCode !== undefined) details.originalStatusCode = fields.OriginalStatusCode;
  if (fields.LogStreamArn !== undefined) details.logStreamArn = fields.LogStreamArn;
  if (error.stack !== undefined) details.stack = maskNumbers(error.stack);
  if (error.cause !== undefined && depth < 3) details.cause = loggableError(error.cause, depth + 1);
  return details;
}
