// The booted-host test harness in one import: host trees, booting, ports, nested trees, and the
// apt repository pieces (signing key, fixture packages, adding a source the admin way).
export { bootHost, machineName, type BootedHost, type BootOptions, type ExecOptions, type ExecResult, type PoweroffReport } from './boot.ts';
export { HOST_PACKAGES, hostTreeTarball, makeHostTree, removeTree, type HostRelease, type HostTree, type HostTreeOptions } from './host-tree.ts';
export { freeLoopbackPort, tcpRoundTrip } from './ports.ts';
export { makeHostNetwork, reachableNameservers, type HostNetwork } from './host-network.ts';
export { makeTinyTree } from './tiny-tree.ts';
export { addAptSource, APT_ENV } from './apt-source.ts';
export { disposeTrackedKeys, keyringFingerprints, makeSigningKey, signChecksums, testReleaseKey, trackedSigningKey, type SigningKey } from './gpg-key.ts';
export { buildFixtureDeb, buildFixtureRelease, type FixtureDeb } from './fixture-deb.ts';
export { makeAptSandbox, type AptSandbox } from './apt-sandbox.ts';
