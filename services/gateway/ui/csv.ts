export type CsvCell = string | number | boolean | null | undefined;

/** RFC 4180 CSV: a header line, then one line per row; cells with `"`, `,` or a line break quoted. */
export function toCsv(header: readonly string[], rows: readonly (readonly CsvCell[])[]): string {
  const cell = (value: CsvCell): string => {
    if (value === null || value === undefined) return '';
    const text = String(value);
    // A leading =, +, - or @ would make a spreadsheet run the cell as a formula.
    const safe = /^[=+\-@]/.test(text) && typeof value === 'string' ? `'${text}` : text;
    return /[",\r\n]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
  };
  return [header, ...rows].map((row) => row.map(cell).join(',')).join('\r\n') + '\r\n';
}
