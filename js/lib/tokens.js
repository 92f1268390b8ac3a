// Prefix tokens of a token layer (ViT class, distillation and register tokens), shared by the widgets.

/** P display names: the ones Python sent, "prefix t" where one is missing. */
export function prefixNames(given, P) {
  const names = Array.isArray(given) ? given : [];
  return Array.from({ length: P }, (_, t) => (names[t] != null ? String(names[t]) : `prefix ${t}`));
}
