/** Placeholder until the panel lands. */
export default function Panel() {
  return null
}
