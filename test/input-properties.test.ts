import fc from 'fast-check';
import type { GraphQLScalarType } from 'graphql';
import { describe, expect, it } from 'vitest';
import { MAX_URL_LENGTH, validateUrl } from '../src/rules/validation.ts';
import { ValidationError } from '../src/errors.ts';
import { schema } from '../src/schema/index.ts';

const DateTime = schema.getType('DateTime') as GraphQLScalarType<Date, string>;

/** What the input claims, read independently of the scalar: its fields and its offset in minutes. */
const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|([+-])(\d{2}):?(\d{2})))?$/;
function claimedUtcPrefix(input: string): string | null {
  const m = ISO.exec(input);
  if (!m) return null;
  const [, y, mo, d, h = '00', mi = '00', s = '00', , , sign, oh = '00', om = '00'] = m;
  const offset = (sign === '-' ? -1 : 1) * (Number(oh) * 60 + Number(om));
  return `${y}-${mo}-${d}T${h}:${mi}:${s}|${offset}`;
}

describe('DateTime scalar', () => {
  it.each(['2027-02-30', '2026-02-29T00:00:00Z', '2026-04-31T00:00:00Z', '2026-13-01', '2026-00-10', '2026-01-00', '2026-01-31T24:00:00Z', '2026-01-31T23:60:00Z', '2026-01-31T23:59:60Z', '2026-01-31T12:00:00+24:00', '2026-01-31T12:00:00+01:60', '2026-01-31T1:00:00Z', '2026-01-31T12:00:00.Z'])(
    'refuses the impossible or malformed %s with a TypeError naming the value',
    (value) => {
      expect(() => DateTime.parseValue(value)).toThrow(TypeError);
      expect(() => DateTime.parseValue(value)).toThrow(/ISO 8601|not a valid/);
    },
  );

  it.each([
    ['2028-02-29', '2028-02-29T00:00:00.000Z'],
    ['2026-01-31T12:00Z', '2026-01-31T12:00:00.000Z'],
    ['2026-01-31T23:59:59.999Z', '2026-01-31T23:59:59.999Z'],
    ['2026-01-31T00:30:00+01:00', '2026-01-30T23:30:00.000Z'],
    ['2026-01-31T00:30:00-0130', '2026-01-31T02:00:00.000Z'],
    ['2000-02-29T00:00:00.1234Z', '2000-02-29T00:00:00.123Z'],
  ])('accepts %s as %s', (input, iso) => {
    expect(DateTime.parseValue(input).toISOString()).toBe(iso);
  });

  it('round-trips every representable instant through serialize and parseValue', () => {
    fc.assert(
      fc.property(fc.date({ min: new Date('0000-01-01T00:00:00.000Z'), max: new Date('9999-12-31T23:59:59.999Z'), noInvalidDate: true }), (date) => {
        const text = DateTime.serialize(date);
        expect(DateTime.parseValue(text).getTime()).toBe(date.getTime());
      }),
      { numRuns: 2000 },
    );
  });

  it('any input gives a valid Date matching what it says, or a TypeError', () => {
    // Fields around their limits (month 0–13, day 0–32, hour 0–25…), so impossible dates come up often.
    const pad = (width: number) => (n: number) => String(n).padStart(width, '0');
    const field = (max: number, width = 2) => fc.integer({ min: 0, max }).map(pad(width));
    const isoLike = fc
      .tuple(field(9999, 4), field(13), field(32), fc.option(fc.tuple(field(25), field(61), fc.option(field(61)), fc.constantFrom('Z', '+', '-'), field(25), field(61), fc.boolean())))
      .map(([y, mo, d, time]) => {
        if (!time) return `${y}-${mo}-${d}`;
        const [h, mi, s, zone, oh, om, colon] = time;
        const tz = zone === 'Z' ? 'Z' : `${zone}${oh}${colon ? ':' : ''}${om}`;
        return `${y}-${mo}-${d}T${h}:${mi}${s ? `:${s}` : ''}${tz}`;
      });
    const anything = fc.oneof(isoLike, fc.string(), fc.stringMatching(/^[0-9T:.Z+-]{0,30}$/), fc.anything());
    fc.assert(
      fc.property(anything, (input) => {
        let date: Date;
        try {
          date = DateTime.parseValue(input);
        } catch (error) {
          expect(error).toBeInstanceOf(TypeError);
          return;
        }
        expect(date).toBeInstanceOf(Date);
        expect(Number.isNaN(date.getTime())).toBe(false);
        const claimed = claimedUtcPrefix(input as string);
        expect(claimed).not.toBeNull();
        const offset = Number(claimed!.split('|')[1]);
        // The instant shifted back by the stated offset reads exactly as the input's fields.
        const local = new Date(date.getTime() + offset * 60_000).toISOString().slice(0, 19);
        expect(`${local}|${offset}`).toBe(claimed);
      }),
      { numRuns: 5000 },
    );
  });
});

describe('validateUrl', () => {
  it('measures the stored, percent-encoded form: 1000 × é is refused', () => {
    expect(() => validateUrl(`https://example.com/${'é'.repeat(1000)}`, 'input.url')).toThrow(/6020 characters long once encoded .*at most 2048/);
    expect(validateUrl(`https://example.com/${'é'.repeat(300)}`, 'input.url')).toHaveLength(20 + 1800);
  });

  it('any string is refused with a ValidationError or stored as a URL of at most 2048 characters that parses', () => {
    const urlish = fc
      .tuple(fc.constantFrom('http://', 'https://', 'HTTPS://', 'ftp://', 'javascript:', '', ' https://'), fc.oneof(fc.domain(), fc.string()), fc.oneof(fc.string({ unit: 'grapheme', maxLength: 1200, size: 'max' }), fc.string({ unit: 'binary', maxLength: 2040, size: 'max' })))
      .map(([scheme, host, rest]) => `${scheme}${host}/${rest}`);
    fc.assert(
      fc.property(fc.oneof(urlish, fc.string({ maxLength: 3000 }), fc.webUrl({ withQueryParameters: true, withFragments: true })), (input) => {
        let stored: string;
        try {
          stored = validateUrl(input, 'input.url');
        } catch (error) {
          expect(error).toBeInstanceOf(ValidationError);
          return;
        }
        expect(stored.length).toBeLessThanOrEqual(MAX_URL_LENGTH);
        expect(new URL(stored).toString()).toBe(stored);
      }),
      // Shrinking 2000-character strings is slow: bound it, the counterexample so far is still reported.
      { numRuns: 500, interruptAfterTimeLimit: 20_000, markInterruptAsFailure: true },
    );
  });
});
