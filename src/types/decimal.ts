// Exact DECIMAL/NUMERIC: an arbitrary-size bigint of unscaled digits plus a decimal scale, so
// value = unscaled × 10^-scale. No floating point anywhere (0.1 + 0.2 = 0.3 exactly). Rounding is
// half away from zero, as PostgreSQL rounds numeric. Sizes are bounded so a hostile literal or a
// long multiplication chain cannot build a million-digit number.
import { ScratchBirdError } from '../core/errors'
import { LIMITS } from '../core/limits'

/** Most significant digits any decimal value may carry (declared or computed). */
export const MAX_DECIMAL_DIGITS = LIMITS.decimalDigits
/** Largest scale; results of * and / are rounded back to it. */
export const MAX_DECIMAL_SCALE = 1000
/** Division keeps at least this many fractional digits (PostgreSQL shows ≥ 16 significant). */
export const DIV_MIN_SCALE = 16

export class Decimal {
  constructor (readonly unscaled: bigint, readonly scale: number) {}
  toString (): string { return formatDecimal(this) }
}

const POW10: bigint[] = [1n]
export function pow10 (n: number): bigint {
  while (POW10.length <= n) POW10.push(POW10[POW10.length - 1]! * 10n)
  return POW10[n]!
}

function outOfRange (message: string): ScratchBirdError {
  return new ScratchBirdError('SB_NUMERIC_OUT_OF_RANGE', message)
}

export function digitCount (v: bigint): number {
  return (v < 0n ? -v : v).toString().length
}

const SAFE = 1n << 53n

/** Checks the size bound; every constructor of computed values goes through here. */
export function makeDecimal (unscaled: bigint, scale: number): Decimal {
  if (scale > MAX_DECIMAL_SCALE) return rescale(new Decimal(unscaled, scale), MAX_DECIMAL_SCALE)
  // Comparisons are cheap; counting digits means a toString, so only for large values.
  if ((unscaled > SAFE || unscaled < -SAFE) && digitCount(unscaled) > MAX_DECIMAL_DIGITS) throw outOfRange(`numeric value exceeds ${MAX_DECIMAL_DIGITS} digits`)
  return new Decimal(unscaled, scale)
}

/** n / d rounded half away from zero (d ≠ 0). */
export function divRound (n: bigint, d: bigint): bigint {
  const q = n / d
  const r = n % d
  if (r === 0n) return q
  const twice = (r < 0n ? -r : r) * 2n
  const dAbs = d < 0n ? -d : d
  if (twice < dAbs) return q
  return (n < 0n) !== (d < 0n) ? q - 1n : q + 1n
}

/** The same value with `scale` fractional digits, rounding when digits are dropped. */
export function rescale (a: Decimal, scale: number): Decimal {
  if (scale === a.scale) return a
  if (scale > a.scale) return makeDecimal(a.unscaled * pow10(scale - a.scale), scale)
  return new Decimal(divRound(a.unscaled, pow10(a.scale - scale)), scale)
}

function aligned (a: Decimal, b: Decimal): [bigint, bigint, number] {
  if (a.scale === b.scale) return [a.unscaled, b.unscaled, a.scale]
  if (a.scale > b.scale) return [a.unscaled, b.unscaled * pow10(a.scale - b.scale), a.scale]
  return [a.unscaled * pow10(b.scale - a.scale), b.unscaled, b.scale]
}

export function decimalAdd (a: Decimal, b: Decimal): Decimal {
  const [x, y, s] = aligned(a, b)
  return makeDecimal(x + y, s)
}

export function decimalSub (a: Decimal, b: Decimal): Decimal {
  const [x, y, s] = aligned(a, b)
  return makeDecimal(x - y, s)
}

export function decimalMul (a: Decimal, b: Decimal): Decimal {
  return makeDecimal(a.unscaled * b.unscaled, a.scale + b.scale)
}

function checkDivisor (b: Decimal): void {
  if (b.unscaled === 0n) throw new ScratchBirdError('SB_DIVISION_BY_ZERO', 'division by zero')
}

/** Result scale max(16, scales of the operands), rounded half away from zero. */
export function decimalDiv (a: Decimal, b: Decimal, minScale = DIV_MIN_SCALE): Decimal {
  checkDivisor(b)
  const s = Math.min(MAX_DECIMAL_SCALE, Math.max(minScale, a.scale, b.scale))
  // a/b at scale s = a.u × 10^(s + b.s - a.s) / b.u; the exponent is ≥ 0 since s ≥ a.s.
  return makeDecimal(divRound(a.unscaled * pow10(s + b.scale - a.scale), b.unscaled), s)
}

/** Remainder with the sign of the dividend (SQL MOD / %). */
export function decimalMod (a: Decimal, b: Decimal): Decimal {
  checkDivisor(b)
  const [x, y, s] = aligned(a, b)
  return new Decimal(x % y, s)
}

export function decimalNeg (a: Decimal): Decimal { return new Decimal(-a.unscaled, a.scale) }
export function decimalAbs (a: Decimal): Decimal { return a.unscaled < 0n ? decimalNeg(a) : a }

export function compareDecimal (a: Decimal, b: Decimal): number {
  const [x, y] = aligned(a, b)
  return x < y ? -1 : x > y ? 1 : 0
}

/** round(a, digits): digits < 0 rounds left of the point; the result has scale max(digits, 0). */
export function decimalRound (a: Decimal, digits: number): Decimal {
  if (digits >= 0) return rescale(a, Math.min(digits, MAX_DECIMAL_SCALE))
  const drop = a.scale - digits
  if (drop > MAX_DECIMAL_DIGITS + a.scale) return new Decimal(0n, 0)
  return makeDecimal(divRound(a.unscaled, pow10(drop)) * pow10(-digits), 0)
}

/** Apply a DECIMAL(p,s) column modifier: round to s, then at most p digits in all. */
export function fitDecimal (a: Decimal, precision: number, scale: number): Decimal {
  const r = rescale(a, scale)
  const limit = pow10(precision)
  if (r.unscaled >= limit || r.unscaled <= -limit) {
    throw outOfRange(`numeric value ${formatDecimal(a)} does not fit DECIMAL(${precision},${scale}): at most ${precision - scale} digits before the point`)
  }
  return r
}

const DECIMAL_TEXT = /^\s*([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?\s*$/

/** Parse decimal text ('12.30', '-.5', '1e-3'); anything else → SB_INVALID_TEXT_REPRESENTATION. */
export function parseDecimal (text: string): Decimal {
  const m = DECIMAL_TEXT.exec(text)
  if (m === null || (m[2] === '' && (m[3] ?? '') === '')) {
    const shown = text.length > 64 ? text.slice(0, 64) + '…' : text
    throw new ScratchBirdError('SB_INVALID_TEXT_REPRESENTATION', `invalid input syntax for type numeric: ${JSON.stringify(shown)}`)
  }
  const intPart = m[2]!
  const frac = m[3] ?? ''
  let digits = (intPart + frac).replace(/^0+/, '')
  const exp = m[4] === undefined ? 0 : Number(m[4])
  if (digits === '') return new Decimal(0n, Math.max(0, Math.min(MAX_DECIMAL_SCALE, frac.length - exp)))
  if (digits.length > MAX_DECIMAL_DIGITS + MAX_DECIMAL_SCALE) throw outOfRange('numeric literal has too many digits')
  if (m[1] === '-') digits = '-' + digits
  const scale = frac.length - exp
  if (scale < 0) {
    if (digits.length - scale > MAX_DECIMAL_DIGITS + 1) throw outOfRange('numeric literal out of range')
    return makeDecimal(BigInt(digits) * pow10(-scale), 0)
  }
  // Rounds to zero long before pow10 would get large.
  if (scale > MAX_DECIMAL_SCALE + digits.length) return new Decimal(0n, MAX_DECIMAL_SCALE)
  return makeDecimal(BigInt(digits), scale)
}

export function formatDecimal (a: Decimal): string {
  const neg = a.unscaled < 0n
  let s = (neg ? -a.unscaled : a.unscaled).toString()
  if (a.scale > 0) {
    if (s.length <= a.scale) s = '0'.repeat(a.scale - s.length + 1) + s
    s = s.slice(0, s.length - a.scale) + '.' + s.slice(s.length - a.scale)
  }
  return neg ? '-' + s : s
}

export function decimalFromBigint (v: bigint): Decimal { return new Decimal(v, 0) }

/** The shortest decimal that reads back as x (JS's own shortest round-trip digits). */
export function decimalFromNumber (x: number): Decimal {
  if (!Number.isFinite(x)) throw outOfRange(`cannot convert ${x} to numeric`)
  return parseDecimal(String(x))
}

/** Nearest double (correctly rounded by the JS number parser). */
export function decimalToNumber (a: Decimal): number {
  if (a.scale === 0) return Number(a.unscaled)
  return Number(formatDecimal(a))
}

/** Strip trailing fractional zeros: the canonical representative of a value (1.50 → 1.5). */
export function normalizeDecimal (a: Decimal): Decimal {
  let u = a.unscaled
  let s = a.scale
  if (u === 0n) return new Decimal(0n, 0)
  while (s > 0 && u % 10n === 0n) { u /= 10n; s-- }
  return new Decimal(u, s)
}
