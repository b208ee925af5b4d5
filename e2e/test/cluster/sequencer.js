// Runs the cluster suite's files in the order of their names (01-…, 02-…): jest's default order
// (slowest and failed first) would put the disruptive tests before the others.
import Sequencer from '@jest/test-sequencer';

const Base = Sequencer.default ?? Sequencer;

export default class ByName extends Base {
  sort(tests) {
    return [...tests].sort((a, b) => a.path.localeCompare(b.path));
  }
}
