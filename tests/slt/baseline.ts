// The baseline's list of passing records (1-based ordinals in their file), kept short as ranges:
// "1-90,93,96-120".

export function formatLines (lines: readonly number[]): string {
  const sorted = [...lines].sort((a, b) => a - b)
  const parts: string[] = []
  let i = 0
  while (i < sorted.length) {
    let j = i
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++
    parts.push(i === j ? `${sorted[i]!}` : `${sorted[i]!}-${sorted[j]!}`)
    i = j + 1
  }
  return parts.join(',')
}

export function parseLines (text: string): number[] {
  if (text.trim() === '') return []
  return text.split(',').flatMap(p => {
    const [a, b] = p.split('-').map(Number)
    if (b === undefined) return [a!]
    const out: number[] = []
    for (let n = a!; n <= b; n++) out.push(n)
    return out
  })
}
