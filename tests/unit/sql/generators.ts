// fast-check generators of random *valid* SQL text in our dialect. Sub-expressions are always
// parenthesised here, so every generated text parses whatever the operators; the formatter's
// own (minimal) parenthesisation is what the round-trip property then tests.

import fc from 'fast-check'

const names = fc.constantFrom('a', 'b', 'user_id', 'value', 'date', 'Mixed', 'select', 'we"ird', 'ünï', 'x1$')
/** An identifier as SQL text: bare when it reads back as itself, quoted otherwise. */
export const identText = names.map((n) => (/^[a-z_][a-z0-9_$]*$/.test(n) && n !== 'select' ? n : `"${n.replaceAll('"', '""')}"`))
const tableName = fc.constantFrom('t', 'users', 'orders', 'sensor_data', '"Weird Table"')

const stringText = fc.string({ maxLength: 8 }).map((s) => `'${s.replaceAll('\'', '\'\'')}'`)
const integerText = fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map((n) => n.toString())
const decimalText = fc.tuple(fc.nat({ max: 99999 }), fc.nat({ max: 9999 }), fc.constantFrom('', 'e5', 'E-3'))
  .map(([a, b, e]) => `${a}.${b}${e}`)
const literalText = fc.oneof(
  integerText, decimalText, stringText,
  fc.constantFrom('TRUE', 'false', 'NULL', "DATE '2026-01-09'", "timestamp '2026-01-09 15:30:00'", '-0.5', '.25')
)
export const typeText = fc.constantFrom(
  'UUID', 'SMALLINT', 'INTEGER', 'int', 'BIGINT', 'DECIMAL(10,2)', 'numeric(5)', 'NUMERIC', 'REAL',
  'DOUBLE PRECISION', 'BOOLEAN', 'CHAR(3)', 'varchar(20)', 'TEXT', 'DATE', 'TIMESTAMP', 'BYTEA'
)

const leaf = fc.oneof(
  { weight: 3, arbitrary: literalText },
  { weight: 3, arbitrary: identText },
  { weight: 1, arbitrary: fc.tuple(identText, identText).map(([t, c]) => `${t}.${c}`) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 99 }).map((n) => `$${n}`) }
)

const p = (s: string): string => `(${s})`

export const exprText: fc.Arbitrary<string> = fc.letrec<{ e: string }>((tie) => ({
  e: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    fc.tuple(tie('e'), fc.constantFrom('OR', 'AND', '=', '<>', '!=', '<', '<=', '>', '>=', '||', '+', '-', '*', '/', '%'), tie('e'))
      .map(([l, op, r]) => `${p(l)} ${op} ${p(r)}`),
    fc.tuple(fc.constantFrom('NOT ', '-', '+'), tie('e')).map(([op, x]) => `${op}${p(x)}`),
    fc.tuple(tie('e'), fc.boolean()).map(([x, n]) => `${p(x)} IS ${n ? 'NOT ' : ''}NULL`),
    fc.tuple(tie('e'), fc.boolean(), fc.array(tie('e'), { minLength: 1, maxLength: 3 }))
      .map(([x, n, l]) => `${p(x)} ${n ? 'NOT ' : ''}IN (${l.join(', ')})`),
    fc.tuple(tie('e'), fc.boolean(), tie('e'), tie('e'))
      .map(([x, n, lo, hi]) => `${p(x)} ${n ? 'NOT ' : ''}BETWEEN ${p(lo)} AND ${p(hi)}`),
    fc.tuple(tie('e'), fc.boolean(), tie('e')).map(([x, n, pat]) => `${p(x)} ${n ? 'NOT ' : ''}LIKE ${p(pat)}`),
    fc.tuple(fc.constantFrom('now', 'lower', 'coalesce', 'uuid_compare', 'gen_uuidv8_hlc', '"Fn"'), fc.array(tie('e'), { maxLength: 3 }))
      .map(([f, args]) => `${f}(${args.join(', ')})`),
    fc.tuple(fc.constantFrom('count', 'sum', 'avg', 'min', 'max'), fc.boolean(), tie('e'))
      .map(([f, d, x]) => `${f}(${d ? 'DISTINCT ' : ''}${x})`),
    fc.constant('COUNT(*)'),
    fc.tuple(tie('e'), typeText, fc.boolean()).map(([x, t, colon]) => (colon ? `${p(x)}::${t}` : `CAST(${x} AS ${t})`)),
    fc.tuple(fc.option(tie('e')), fc.array(fc.tuple(tie('e'), tie('e')), { minLength: 1, maxLength: 3 }), fc.option(tie('e')))
      .map(([op, whens, els]) => `CASE ${op ?? ''} ${whens.map(([w, t]) => `WHEN ${w} THEN ${t}`).join(' ')} ${els === null ? '' : `ELSE ${els}`} END`)
  )
})).e

const alias = fc.option(fc.tuple(fc.boolean(), identText).map(([as, a]) => (as ? `AS ${a}` : a)), { freq: 2 })
const selectItem = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(exprText, alias).map(([e, a]) => `${e}${a === null ? '' : ` ${a}`}`) },
  { weight: 1, arbitrary: fc.constantFrom('*', 't.*', '"Weird Table".*') }
)
const tableRef = fc.tuple(tableName, fc.option(fc.constantFrom('u', 'AS o', 'x')))
  .map(([t, a]) => (a === null ? t : `${t} ${a}`))
// A derived table (issue 19 item 4): a small query of its own, an alias, maybe a column list.
const derivedRef = fc.tuple(fc.constantFrom('SELECT a FROM t', 'SELECT DISTINCT b, count(*) FROM u AS x WHERE b > 2 GROUP BY b', 'SELECT * FROM (SELECT 1) AS i'),
  fc.constantFrom('d', 'AS "Sub Q"', 'AS e'), fc.option(fc.constantFrom('(p)', '(p, q)')))
  .map(([q, a, cols]) => `(${q}) ${a}${cols === null ? '' : ` ${cols}`}`)
const fromEntry = fc.oneof({ weight: 4, arbitrary: tableRef }, { weight: 1, arbitrary: derivedRef })
const fromClause = fc.tuple(fromEntry, fc.array(fc.tuple(fc.constantFrom('JOIN', 'INNER JOIN', 'LEFT JOIN', 'LEFT OUTER JOIN', 'CROSS JOIN', ','), fromEntry, exprText), { maxLength: 2 }))
  .map(([first, joins]) => first + joins.map(([j, t, on]) => (j === ',' || j === 'CROSS JOIN' ? `${j === ',' ? ',' : ' CROSS JOIN'} ${t}` : ` ${j} ${t} ON ${on}`)).join(''))
const orderItem = fc.tuple(exprText, fc.constantFrom('', ' ASC', ' DESC'), fc.constantFrom('', ' NULLS FIRST', ' NULLS LAST'))
  .map(([e, d, n]) => `${e}${d}${n}`)

export const selectText = fc.record({
  distinct: fc.constantFrom('', 'DISTINCT ', 'ALL '),
  items: fc.array(selectItem, { minLength: 1, maxLength: 3 }),
  from: fc.option(fromClause),
  where: fc.option(exprText),
  group: fc.option(fc.array(exprText, { minLength: 1, maxLength: 2 })),
  having: fc.option(exprText),
  order: fc.option(fc.array(orderItem, { minLength: 1, maxLength: 2 })),
  limit: fc.option(fc.constantFrom('10', '$1', '0')),
  offset: fc.option(fc.constantFrom('5', '$2'))
}).map((s) => [
  `SELECT ${s.distinct}${s.items.join(', ')}`,
  s.from === null ? '' : `FROM ${s.from}`,
  s.where === null ? '' : `WHERE ${s.where}`,
  s.group === null ? '' : `GROUP BY ${s.group.join(', ')}`,
  s.having === null ? '' : `HAVING ${s.having}`,
  s.order === null ? '' : `ORDER BY ${s.order.join(', ')}`,
  s.limit === null ? '' : `LIMIT ${s.limit}`,
  s.offset === null ? '' : `OFFSET ${s.offset}`
].filter((x) => x !== '').join(' '))

const returning = fc.option(fc.array(selectItem, { minLength: 1, maxLength: 2 }).map((l) => ` RETURNING ${l.join(', ')}`)).map((r) => r ?? '')

const insertText = fc.tuple(tableName, fc.integer({ min: 1, max: 3 }), fc.boolean(), fc.integer({ min: 1, max: 3 }))
  .chain(([t, width, withCols, nrows]) => fc.tuple(
    fc.constant(t),
    withCols ? fc.uniqueArray(identText, { minLength: width, maxLength: width }).map((c) => ` (${c.join(', ')})`) : fc.constant(''),
    fc.array(fc.array(fc.oneof(exprText, fc.constant('DEFAULT')), { minLength: width, maxLength: width }), { minLength: nrows, maxLength: nrows }),
    returning
  ))
  .filter(([, cols, rows]) => cols === '' || rows.every((r) => r.length === rows[0]!.length))
  .map(([t, cols, rows, ret]) => `INSERT INTO ${t}${cols} VALUES ${rows.map((r) => `(${r.join(', ')})`).join(', ')}${ret}`)

const updateText = fc.tuple(tableName, fc.array(fc.tuple(identText, fc.oneof(exprText, fc.constant('DEFAULT'))), { minLength: 1, maxLength: 3 }), fc.option(exprText), returning)
  .map(([t, sets, w, ret]) => `UPDATE ${t} SET ${sets.map(([c, v]) => `${c} = ${v}`).join(', ')}${w === null ? '' : ` WHERE ${w}`}${ret}`)

const deleteText = fc.tuple(tableName, fc.option(exprText), returning)
  .map(([t, w, ret]) => `DELETE FROM ${t}${w === null ? '' : ` WHERE ${w}`}${ret}`)

const optionValue = fc.oneof(stringText, integerText, decimalText, fc.constantFrom('TRUE', 'FALSE', 'NULL', '-3'))
const optionList = fc.array(fc.tuple(fc.constantFrom('replication_mode', 'replication_factor', 'write_quorum', 'read_quorum', 'uuid_type', 'partition_key_columns', 'made_up'), optionValue), { minLength: 1, maxLength: 4 })
  .map((l) => l.map(([k, v]) => `${k} = ${v}`).join(', '))

const columnDefText = fc.tuple(identText, typeText, fc.subarray(['NOT NULL', 'PRIMARY KEY', 'DEFAULT-', 'REFERENCES-']), fc.constantFrom('REFERENCES users', 'REFERENCES users (user_id)'), literalText)
  .chain(([n, t, cons, ref, dflt]) => fc.shuffledSubarray(cons, { minLength: cons.length }).map((order) =>
    `${n} ${t}${order.map((k) => ` ${k === 'DEFAULT-' ? `DEFAULT ${dflt}` : k === 'REFERENCES-' ? ref : k}`).join('')}`))

const createText = fc.tuple(
  fc.boolean(),
  tableName,
  fc.array(columnDefText, { minLength: 1, maxLength: 3 }),
  fc.array(fc.constantFrom('PRIMARY KEY (a, b)', 'CONSTRAINT pk PRIMARY KEY (a)', 'FOREIGN KEY (user_id) REFERENCES users (user_id)', 'CONSTRAINT fk FOREIGN KEY (a, b) REFERENCES other'), { maxLength: 2 }),
  fc.option(fc.constantFrom('PARTITION BY user_id', 'PARTITION BY (a, b)', 'PARTITION BY ("Mixed")')),
  fc.option(optionList)
).map(([ine, t, cols, cons, part, opts]) =>
  `CREATE TABLE ${ine ? 'IF NOT EXISTS ' : ''}${t} (${[...cols, ...cons].join(', ')})${part === null ? '' : ` ${part}`}${opts === null ? '' : ` WITH (${opts})`}`)

const alterText = fc.tuple(tableName, fc.oneof(
  optionList.map((o) => `SET ${o}`),
  fc.tuple(fc.constantFrom('ADD ', 'ADD COLUMN ', 'ADD COLUMN IF NOT EXISTS '), columnDefText).map(([a, c]) => `${a}${c}`),
  fc.tuple(fc.constantFrom('DROP ', 'DROP COLUMN ', 'DROP COLUMN IF EXISTS '), identText).map(([a, c]) => `${a}${c}`)
)).map(([t, a]) => `ALTER TABLE ${t} ${a}`)

const dropText = fc.tuple(fc.boolean(), tableName).map(([ie, t]) => `DROP TABLE ${ie ? 'IF EXISTS ' : ''}${t}`)

const otherText = fc.constantFrom(
  'BEGIN', 'BEGIN TRANSACTION', 'START TRANSACTION ISOLATION LEVEL SNAPSHOT', 'BEGIN ISOLATION LEVEL READ COMMITTED',
  'COMMIT', 'ROLLBACK WORK', 'SHOW CLUSTER MEMBERS', 'SHOW SHARD MAP', 'SHOW REPLICATION LAG', 'SHOW ANTI_ENTROPY STATUS', 'REPAIR SHARD 3', 'REPAIR TABLE t',
  'SHOW MERKLE FOREST SIZE', 'DELIVER HINTS TO NODE 3', 'DRAIN NODE 65535', 'ALTER CLUSTER SET shards = 32'
)

const explainable = fc.oneof(selectText, insertText, updateText, deleteText, createText, alterText, dropText)

/** One random valid statement (no trailing `;`). */
export const statementText: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: selectText },
  { weight: 1, arbitrary: insertText },
  { weight: 1, arbitrary: updateText },
  { weight: 1, arbitrary: deleteText },
  { weight: 1, arbitrary: createText },
  { weight: 1, arbitrary: alterText },
  { weight: 1, arbitrary: dropText },
  { weight: 1, arbitrary: otherText },
  { weight: 1, arbitrary: explainable.map((s) => `EXPLAIN ${s}`) }
)
