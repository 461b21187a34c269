// Boots a host and then dies without powering it off, the way a crashed or killed test would:
// `exit` calls process.exit(1) (the exit hook must clean up), `hang` waits to be SIGKILLed (the
// parent-death signal must stop the host). Prints {name, nspawnPid, initPid, workDir} as one line.
import { bootHost, machineName } from './boot.ts';
import { makeHostTree, type HostRelease } from './host-tree.ts';

const [mode, release] = process.argv.slice(2) as ['exit' | 'hang', HostRelease];
const tree = await makeHostTree(release);
const host = await bootHost(tree, machineName(`crash-${mode}`));
process.stdout.write(`${JSON.stringify({ name: host.name, nspawnPid: host.nspawnPid, initPid: host.initPid, workDir: tree.workDir })}\n`);
if (mode === 'exit') process.exit(1);
setInterval(() => {}, 1000);
