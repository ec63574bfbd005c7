import { formatCount } from './format.ts'

/** One `<dt>`/`<dd>` pair in a `.stats` list showing a count, with its raw number in `data-value`. */
export function FigureStat({
  label,
  value,
  testId,
  className = 'figure',
}: {
  label: string
  value: number
  testId: string
  className?: string
}) {
  return (
    <div>
      <dt>{label}</dt>
      <dd className={className} data-testid={testId} data-value={value}>
        {formatCount(value)}
      </dd>
    </div>
  )
}
