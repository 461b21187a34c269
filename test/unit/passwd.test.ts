// Editing the user tables without useradd: the entries, idempotence, and id collisions.
import { describe, expect, it } from 'vitest';
import { addUser, userEntries } from '../../overlays/builder-user/passwd.ts';

const tables = {
  passwd: 'root:x:0:0:root:/root:/bin/bash\nsshd:x:100:65534::/run/sshd:/usr/sbin/nologin\n',
  group: 'root:x:0:\nshadow:x:42:\n',
  shadow: 'root:*:20000:0:99999:7:::\n',
  gshadow: 'root:*::\n',
};
const spec = { name: 'builder', uid: 9000, gid: 9000, shell: '/bin/bash', home: '/home/builder', lastChangeDays: 20413 };

describe('builder user entries', () => {
  it('writes deterministic entries: no password, not locked, last change from SOURCE_DATE_EPOCH', () => {
    expect(userEntries(spec)).toEqual({
      passwd: 'builder:x:9000:9000::/home/builder:/bin/bash',
      group: 'builder:x:9000:',
      shadow: 'builder:*:20413:0:99999:7:::',
      gshadow: 'builder:!::',
    });
  });

  it('appends to the tables and keeps every other line', () => {
    const out = addUser(tables, spec);
    expect(out.passwd).toBe(`${tables.passwd}builder:x:9000:9000::/home/builder:/bin/bash\n`);
    expect(out.group).toBe(`${tables.group}builder:x:9000:\n`);
  });

  it('is idempotent: applying twice gives the same tables', () => {
    const once = addUser(tables, spec);
    expect(addUser(once, spec)).toEqual(once);
  });

  it('refuses a uid or gid held by someone else', () => {
    expect(() => addUser(tables, { ...spec, uid: 100 })).toThrow('uid 100 is already used by "sshd"');
    expect(() => addUser(tables, { ...spec, gid: 42 })).toThrow('gid 42 is already used by group "shadow"');
  });
});
