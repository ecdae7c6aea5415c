/**
 * Field checks for the records the dossier reads (rollout record, release manifest, compliance
 * result). A record comes from a file or a bucket another role can write: each field is checked for
 * its type and form, and a record is rebuilt from its checked fields only, so nothing unchecked
 * reaches a page. Every failure names the field.
 */

/** The error a reader throws; each record kind has its own. */
export type ErrorClass = new (message: string) => Error;

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const isIso = (v: unknown): v is string =>
  typeof v === 'string' &&
  /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)$/.test(v) &&
  !Number.isNaN(Date.parse(v));
const either = (values: readonly string[]): string =>
  values.length === 1 ? values[0] : `${values.slice(0, -1).join(', ')} or ${values.at(-1)}`;

/** The fields of one JSON object, read with checks. */
export class Fields {
  /** Reads `value` as an object; `where` names it in messages ('' for the record itself). */
  static of(value: unknown, where: string, error: ErrorClass): Fields {
    if (!isObject(value)) throw new error(`${where || 'the record'} must be a JSON object`);
    return new Fields(value, where, error);
  }

  private constructor(
    private readonly value: Record<string, unknown>,
    private readonly where: string,
    private readonly error: ErrorClass,
  ) {}

  private name(field: string): string {
    return this.where ? `${this.where}.${field}` : field;
  }

  private fail(field: string, what: string): never {
    throw new this.error(`${this.name(field)} must be ${what}`);
  }

  /** A string, matching `pattern` when given (`form` says what the pattern asks for). */
  string(field: string, pattern?: RegExp, form = `of the form ${String(pattern)}`): string {
    const v = this.value[field];
    if (typeof v !== 'string') this.fail(field, 'a string');
    if (pattern && !pattern.test(v)) this.fail(field, form);
    return v;
  }

  /** A string, or null when it is null or absent. */
  stringOrNull(field: string): string | null {
    return this.value[field] === null || this.value[field] === undefined ? null : this.string(field);
  }

  /** An ISO-8601 time. */
  iso(field: string): string {
    const v = this.value[field];
    if (!isIso(v)) this.fail(field, 'an ISO-8601 time');
    return v;
  }

  /** An ISO-8601 time, or null when it is null or absent. */
  isoOrNull(field: string, also = ''): string | null {
    const v = this.value[field];
    if (v === null || v === undefined) return null;
    if (!isIso(v)) this.fail(field, `an ISO-8601 time${also}`);
    return v;
  }

  /** A finite number in [min, max]; whole when `integer`. */
  number(field: string, { min = -Infinity, max = Infinity, integer = false } = {}): number {
    const v = this.value[field];
    if (
      typeof v !== 'number' ||
      !Number.isFinite(v) ||
      v < min ||
      v > max ||
      (integer && !Number.isInteger(v))
    ) {
      const range = [min > -Infinity ? `≥ ${min}` : '', max < Infinity ? `≤ ${max}` : ''].filter(Boolean);
      this.fail(field, `a ${integer ? 'whole ' : ''}number${range.length ? ` ${range.join(' and ')}` : ''}`);
    }
    return v;
  }

  /** A finite number ≥ 0, or null. */
  numberOrNull(field: string): number | null {
    const v = this.value[field];
    if (v === null) return null;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) this.fail(field, 'a number ≥ 0 or null');
    return v;
  }

  /** One of `values`. */
  oneOf<T extends string>(field: string, values: readonly T[]): T {
    const v = this.value[field];
    if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) this.fail(field, either(values));
    return v as T;
  }

  /** A nested object, read with checks. */
  object(field: string): Fields {
    return Fields.of(this.value[field], this.name(field), this.error);
  }

  /** A nested object, or null. */
  objectOrNull(field: string): Fields | null {
    return this.value[field] === null ? null : this.object(field);
  }

  /** An array whose items `each` reads (it gets the item and its name, `field[i]`). */
  array<T>(field: string, each: (item: unknown, where: string) => T): T[] {
    const v = this.value[field];
    if (!Array.isArray(v)) this.fail(field, 'an array');
    return v.map((item, i) => each(item, `${this.name(field)}[${i}]`));
  }

  /** An array of strings. */
  strings(field: string): string[] {
    return this.array(field, (item, where) => {
      if (typeof item !== 'string') throw new this.error(`${where} must be a string`);
      return item;
    });
  }

  /** An object of string values (absent: undefined). */
  stringRecord(field: string): Record<string, string> | undefined {
    const v = this.value[field];
    if (v === undefined) return undefined;
    if (!isObject(v) || !Object.values(v).every((x) => typeof x === 'string'))
      this.fail(field, 'an object of strings');
    return { ...(v as Record<string, string>) };
  }

  /** Reads an item of an array field as an object. */
  fieldsOf(item: unknown, where: string): Fields {
    return Fields.of(item, where, this.error);
  }
}
