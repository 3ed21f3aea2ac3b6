// What `check` reports. Codes are stable: scripts and tests match on them.
export interface Problem {
  /** Stable, kebab-case, e.g. `backup-is-default`, `initrd-modules-dropped`. */
  code: string;
  /** One sentence for a person, naming the file(s) involved. */
  message: string;
  /** `error` makes `check` exit 1; `warning` is printed but leaves ok=true. */
  severity: 'error' | 'warning';
}

export function problem(code: string, message: string, severity: Problem['severity'] = 'error'): Problem {
  return { code, message, severity };
}
