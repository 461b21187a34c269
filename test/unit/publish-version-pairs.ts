// Debian version pairs with their order, shared by the unit test (our comparison) and the
// integration test (the same table checked against `dpkg --compare-versions`).

/** [a, b, sign of a compared to b], as `dpkg --compare-versions` answers (checked in the integration test). */
export const VERSION_PAIRS: Array<[string, string, -1 | 0 | 1]> = [
  ['1.0.0', '1.0.0', 0],
  ['1.0.0', '1.1.0', -1],
  ['1.9.0', '1.10.0', -1],
  ['1.4.0~rc.1', '1.4.0', -1],
  ['1.4.0~rc.1', '1.4.0~rc.2', -1],
  ['1.4.0~rc.10', '1.4.0~rc.9', 1],
  ['1.4.0~rc.1', '1.3.9', 1],
  ['1:0.1', '2.0', 1],
  ['1.0-1', '1.0-2', -1],
  ['1.0', '1.0-0', 0],
  ['1.0a', '1.0', 1],
  ['1.0a', '1.0+', -1],
  ['1.0~', '1.0', -1],
  ['1.0~~', '1.0~', -1],
  ['2.0.0', '10.0.0', -1],
  ['1.01', '1.1', 0],
  ['1.0.0+build.1', '1.0.0', 1],
];
