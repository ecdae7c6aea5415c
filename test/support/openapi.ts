import Ajv, { type ValidateFunction } from 'ajv';
import { openApiDocument } from '../../lib/app/inference/api-models';

/** A JSON-schema validator per schema of the API's OpenAPI document, by model name. */
export function openApiValidators(): Record<string, ValidateFunction> {
  const document = openApiDocument() as { components: { schemas: Record<string, object> } };
  const ajv = new Ajv({
    allErrors: true,
    formats: { 'date-time': /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/ },
  });
  return Object.fromEntries(
    Object.entries(document.components.schemas).map(([name, schema]) => [name, ajv.compile(schema)]),
  );
}
