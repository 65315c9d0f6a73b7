/**
 * The embedded server's users besides the admin ("members"), and which databases they
 * may use: what CouchDB keeps in `_users` and each database's `_security`, kept here in
 * `<data dir>/members.json` (0600) because express-pouchdb enforces neither. Passwords
 * are stored as PBKDF2-SHA256 derived keys, never in clear.
 */
import { pbkdf2Sync, randomBytes, timingSafeEqual, createHash } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';

/** CouchDB 3's own default for pbkdf2 on sha256 is far higher; 100,000 keeps a login
 * under ~50 ms on a small machine while staying above OWASP's old floor. Verified
 * passwords are remembered (by hash) so Basic auth does not pay it per request. */
const PBKDF2_ITERATIONS = 100_000;
const VERIFIED_CACHE_MAX = 1000;

export interface Member {
  name: string;
  roles: string[];
  salt: string;
  derived_key: string;
  iterations: number;
}

export interface Security {
  members: { names: string[]; roles: string[] };
}

interface Stored {
  users: Record<string, Member>;
  security: Record<string, Security>;
}

export class MemberStore {
  private data: Stored;
  private readonly verified = new Set<string>();

  constructor(private readonly path: string) {
    try {
      this.data = JSON.parse(readFileSync(path, 'utf8')) as Stored;
    } catch {
      this.data = { users: {}, security: {} };
    }
  }

  get(name: string): Member | undefined {
    return Object.prototype.hasOwnProperty.call(this.data.users, name) ? this.data.users[name] : undefined;
  }

  verify(name: string, password: string): Member | undefined {
    const member = this.get(name);
    if (!member) return undefined;
    const memo = createHash('sha256').update(`${name}\n${password}\n${member.derived_key}`).digest('hex');
    if (this.verified.has(memo)) return member;
    const derived = pbkdf2Sync(password, member.salt, member.iterations, 32, 'sha256');
    if (!timingSafeEqual(derived, Buffer.from(member.derived_key, 'hex'))) return undefined;
    if (this.verified.size >= VERIFIED_CACHE_MAX) this.verified.clear();
    this.verified.add(memo);
    return member;
  }

  /** PUT /_users/org.couchdb.user:NAME as CouchDB takes it: a password, roles. */
  put(name: string, password: string, roles: string[]): Member {
    const salt = randomBytes(16).toString('hex');
    const member = { name, roles, salt, iterations: PBKDF2_ITERATIONS, derived_key: pbkdf2Sync(password, salt, PBKDF2_ITERATIONS, 32, 'sha256').toString('hex') };
    this.data.users[name] = member;
    this.save();
    return member;
  }

  remove(name: string): boolean {
    if (!this.get(name)) return false;
    delete this.data.users[name];
    this.save();
    return true;
  }

  setSecurity(db: string, security: Security): void {
    this.data.security[db] = security;
    this.save();
  }

  /** CouchDB's rule: a member of the database by name or by one of its roles. */
  mayUse(db: string, member: Member): boolean {
    const sec = this.data.security[db];
    if (!sec) return false;
    return sec.members.names.includes(member.name) || member.roles.some((r) => sec.members.roles.includes(r));
  }

  private save(): void {
    const tmp = `${this.path}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(this.data, null, 2)}\n`, { mode: 0o600 });
    renameSync(tmp, this.path);
  }
}
