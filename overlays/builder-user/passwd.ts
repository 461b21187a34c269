// Pure edits of /etc/passwd, group, shadow and gshadow: add or replace one user's entries without
// useradd, so nothing takes today's date. Refuses an id another entry already uses.

export interface UserSpec {
  name: string;
  uid: number;
  gid: number;
  shell: string;
  home: string;
  /** Days since the epoch for shadow's "last change" field, from SOURCE_DATE_EPOCH. */
  lastChangeDays: number;
}

type Table = 'passwd' | 'group' | 'shadow' | 'gshadow';

function lines(text: string): string[] {
  return text.split('\n').filter((l) => l.length > 0);
}

/** Replace the line for `name` (first field), or append it; keeps every other line as it was. */
export function upsert(text: string, name: string, line: string): string {
  const out = lines(text).filter((l) => l.split(':')[0] !== name);
  out.push(line);
  return `${out.join('\n')}\n`;
}

/** The name that already holds an id in a passwd or group table (field 3), other than `except`. */
export function idHolder(text: string, id: number, except: string): string | undefined {
  return lines(text)
    .find((l) => {
      const f = l.split(':');
      return f[0] !== except && f[2] === String(id);
    })
    ?.split(':')[0];
}

export function userEntries(u: UserSpec): Record<Table, string> {
  return {
    passwd: `${u.name}:x:${u.uid}:${u.gid}::${u.home}:${u.shell}`,
    group: `${u.name}:x:${u.gid}:`,
    // "*": no password can match, yet the account is not locked ("!"), which sshd without PAM
    // would refuse even for public-key logins.
    shadow: `${u.name}:*:${u.lastChangeDays}:0:99999:7:::`,
    gshadow: `${u.name}:!::`,
  };
}

export function addUser(tables: Record<Table, string>, u: UserSpec): Record<Table, string> {
  const uidHolder = idHolder(tables.passwd, u.uid, u.name);
  if (uidHolder) throw new Error(`uid ${u.uid} is already used by "${uidHolder}" in the image's /etc/passwd; pick another user.uid`);
  const gidHolder = idHolder(tables.group, u.gid, u.name);
  if (gidHolder) throw new Error(`gid ${u.gid} is already used by group "${gidHolder}" in the image's /etc/group; pick another user.gid`);
  const entries = userEntries(u);
  return {
    passwd: upsert(tables.passwd, u.name, entries.passwd),
    group: upsert(tables.group, u.name, entries.group),
    shadow: upsert(tables.shadow, u.name, entries.shadow),
    gshadow: upsert(tables.gshadow, u.name, entries.gshadow),
  };
}
