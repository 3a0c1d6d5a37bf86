/**
 * A deliberately small declarative validator for control messages: every field
 * is typed and bounded, unknown fields are rejected. Small enough to ship in
 * the embed script as well as the relay.
 */
export type FieldSpec =
  | { type: 'string'; max: number; min?: number; pattern?: RegExp; optional?: boolean }
  | { type: 'number'; min: number; max: number; optional?: boolean }
  | { type: 'int'; min: number; max: number; optional?: boolean }
  | { type: 'boolean'; optional?: boolean }
  | { type: 'object'; fields: Record<string, FieldSpec>; optional?: boolean }
  | { type: 'array'; max: number; items: FieldSpec; optional?: boolean };

export type Schema = Record<string, FieldSpec>;

export type Validation = { ok: true } | { ok: false; message: string };

export function validate(value: unknown, schema: Schema, path = ''): Validation {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, message: `${path || 'message'} must be an object` };
  }
  const obj = value as Record<string, unknown>;
  for (const key of Object.keys(obj)) {
    if (!Object.hasOwn(schema, key)) return { ok: false, message: `unknown field ${path}${key}` };
  }
  for (const [key, spec] of Object.entries(schema)) {
    const v = obj[key];
    const name = path + key;
    if (v === undefined) {
      if (spec.optional) continue;
      return { ok: false, message: `missing field ${name}` };
    }
    const r = checkField(v, spec, name);
    if (!r.ok) return r;
  }
  return { ok: true };
}

function checkField(v: unknown, spec: FieldSpec, name: string): Validation {
  switch (spec.type) {
    case 'string':
      if (typeof v !== 'string') return { ok: false, message: `${name} must be a string` };
      if (v.length > spec.max) return { ok: false, message: `${name} is longer than ${spec.max}` };
      if (spec.min !== undefined && v.length < spec.min) return { ok: false, message: `${name} is shorter than ${spec.min}` };
      if (spec.pattern && !spec.pattern.test(v)) return { ok: false, message: `${name} has an invalid format` };
      return { ok: true };
    case 'number':
    case 'int':
      if (typeof v !== 'number' || !Number.isFinite(v)) return { ok: false, message: `${name} must be a finite number` };
      if (spec.type === 'int' && !Number.isInteger(v)) return { ok: false, message: `${name} must be an integer` };
      if (v < spec.min || v > spec.max) return { ok: false, message: `${name} is out of range` };
      return { ok: true };
    case 'boolean':
      return typeof v === 'boolean' ? { ok: true } : { ok: false, message: `${name} must be a boolean` };
    case 'object':
      return validate(v, spec.fields, name + '.');
    case 'array': {
      if (!Array.isArray(v)) return { ok: false, message: `${name} must be an array` };
      if (v.length > spec.max) return { ok: false, message: `${name} has more than ${spec.max} items` };
      for (let i = 0; i < v.length; i++) {
        const r = checkField(v[i], spec.items, `${name}[${i}]`);
        if (!r.ok) return r;
      }
      return { ok: true };
    }
  }
}
