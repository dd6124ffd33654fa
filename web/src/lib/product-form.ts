// The product edit form's rules, without the DOM: the same checks the API makes on PUT/PATCH
// /products/{id} with the bounds of its contract (docs/openapi.json) and its own messages, so that a value the
// page accepts is one the API accepts; the difference between the loaded product and the form (what
// a PATCH sends); and the API's 422 entries sorted by field.

import type { ProductFields, ValidationDetail } from './api';
import { SPEC_BOUNDS } from './gen/spec';

export type Field = keyof ProductFields;
export const FIELDS: readonly Field[] = ['name', 'description', 'price', 'category'];

/** The form as typed: every field is text. An empty description or category means null. */
export type FormValues = Record<Field, string>;

/** A message per field; a missing key means the field is fine. */
export type FieldErrors = Partial<Record<Field, string>>;

/** The bounds of the API's contract (ProductInput in docs/openapi.json, through gen/spec.ts). */
const B = SPEC_BOUNDS.product;
export const NAME_MIN = B.name.minLength;
export const NAME_MAX = B.name.maxLength;
export const DESCRIPTION_MAX = B.description.maxLength;
export const CATEGORY_MAX = B.category.maxLength;
export const PRICE_MIN = B.price.minimum;
export const PRICE_MAX = B.price.maximum;
/** Decimal places a price may have: 2 for multipleOf 0.01. */
export const PRICE_DECIMALS = Math.round(-Math.log10(B.price.multipleOf));

/** Characters as the API counts them (Unicode code points, not UTF-16 units). */
function chars(s: string): number {
  return [...s].length;
}

/** A price as typed: digits with an optional decimal point, e.g. "12", "12.5", "0.99". */
const PRICE_TEXT = /^\s*(\d+(?:\.\d*)?|\.\d+)\s*$/;

/** The API's message for a price as typed, or null when it accepts it (checks in the API's order). */
function priceError(text: string): string | null {
  const trimmed = text.trim();
  if (trimmed === '') return 'Field required';
  if (Number(trimmed) < PRICE_MIN) return `Input should be greater than or equal to ${PRICE_MIN}`;
  const m = PRICE_TEXT.exec(text);
  if (!m) return 'Input should be a valid decimal';
  if (Number(m[1]) > PRICE_MAX) return `Input should be less than or equal to ${PRICE_MAX}`;
  const decimals = (m[1].split('.')[1] ?? '').replace(/0+$/, '');
  if (decimals.length > PRICE_DECIMALS) return `Decimal input should have no more than ${PRICE_DECIMALS} decimal places`;
  return null;
}

/** The API's checks on each field, with its messages. */
export function validate(v: FormValues): FieldErrors {
  const errors: FieldErrors = {};
  if (chars(v.name) < NAME_MIN) errors.name = `String should have at least ${NAME_MIN} character${NAME_MIN === 1 ? '' : 's'}`;
  else if (chars(v.name) > NAME_MAX) errors.name = `String should have at most ${NAME_MAX} characters`;
  if (chars(v.description) > DESCRIPTION_MAX) errors.description = `String should have at most ${DESCRIPTION_MAX} characters`;
  if (chars(v.category) > CATEGORY_MAX) errors.category = `String should have at most ${CATEGORY_MAX} characters`;
  const price = priceError(v.price);
  if (price) errors.price = price;
  return errors;
}

/** The form's values as the API takes them (call only when validate() found nothing). */
export function toFields(v: FormValues): ProductFields {
  return {
    name: v.name,
    description: v.description === '' ? null : v.description,
    price: Math.round(Number(v.price) * 100) / 100,
    category: v.category === '' ? null : v.category,
  };
}

/** A product's fields as the form shows them. */
export function toValues(p: ProductFields): FormValues {
  return {
    name: p.name,
    description: p.description ?? '',
    price: p.price.toFixed(2),
    category: p.category ?? '',
  };
}

/** The fields whose value differs from `original`: the body of a PATCH (empty: nothing changed). */
export function changedFields(original: ProductFields, v: FormValues): Partial<ProductFields> {
  const next = toFields(v);
  const out: Partial<ProductFields> = {};
  if (next.name !== original.name) out.name = next.name;
  if ((next.description ?? '') !== (original.description ?? '')) out.description = next.description;
  if (Math.round(next.price * 100) !== Math.round(original.price * 100)) out.price = next.price;
  if ((next.category ?? '') !== (original.category ?? '')) out.category = next.category;
  return out;
}

/** True when the product the API returned holds every value that was sent. */
export function holds(p: ProductFields, sent: Partial<ProductFields>): boolean {
  return FIELDS.every((f) => {
    if (!(f in sent)) return true;
    return f === 'price' ? Math.round(p.price * 100) === Math.round((sent.price as number) * 100) : p[f] === sent[f];
  });
}

/**
 * The API's 422 entries sorted out: those with loc ["body", field] by field (first message wins),
 * and the rest (whole-body problems such as json_invalid) as text.
 */
export function apiErrors(detail: unknown): { fields: FieldErrors; other: string[] } {
  const fields: FieldErrors = {};
  const other: string[] = [];
  if (typeof detail === 'string') return { fields, other: [detail] };
  if (!Array.isArray(detail)) return { fields, other };
  for (const entry of detail as Partial<ValidationDetail>[]) {
    const loc = Array.isArray(entry.loc) ? entry.loc : [];
    const field = loc[0] === 'body' && typeof loc[1] === 'string' ? loc[1] : null;
    const msg = typeof entry.msg === 'string' ? entry.msg : 'Invalid value';
    if (field && (FIELDS as readonly string[]).includes(field)) {
      if (!fields[field as Field]) fields[field as Field] = msg;
    } else {
      other.push(field ? `${field}: ${msg}` : msg);
    }
  }
  return { fields, other };
}
