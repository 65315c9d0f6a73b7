/** Display helpers: dates, sizes, names. */
import type { Address } from '../data/mail.js';

export function shortDate(seconds: number | null): string {
  if (seconds === null) return '';
  const d = new Date(seconds * 1000);
  const now = new Date();
  if (d.toDateString() === now.toDateString()) return d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
  if (d.getFullYear() === now.getFullYear()) return d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' });
  return d.toLocaleDateString(undefined, { year: 'numeric', month: 'short', day: 'numeric' });
}

export function longDate(seconds: number | null): string {
  return seconds === null ? 'no date' : new Date(seconds * 1000).toLocaleString();
}

export function isoDate(seconds: number | null): string | undefined {
  return seconds === null ? undefined : new Date(seconds * 1000).toISOString();
}

export function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(bytes < 10240 ? 1 : 0)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

export function who(a: Address | null | undefined): string {
  if (!a) return 'unknown sender';
  return a.name?.trim() || a.address || 'unknown';
}

export function fullAddress(a: Address): string {
  return a.name && a.address ? `${a.name} <${a.address}>` : (a.address ?? a.name ?? '');
}

export function participants(list: Address[]): string {
  if (list.length === 1) return who(list[0]);
  const names = list.map((a) => who(a).split(/\s+/)[0] ?? '');
  return names.length > 3 ? `${names.slice(0, 3).join(', ')} +${names.length - 3}` : names.join(', ');
}
