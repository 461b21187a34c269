// The default builder on Debian 12 (bookworm), for hosts that must match an older userland.
// It shows how one recipe builds on another: spread the base, change what differs.
import { defineRecipe } from '../pipeline/recipe/define.ts';
import base from './default.ts';

export default defineRecipe({ ...base, name: 'ephemeral-builder-bookworm', suite: 'bookworm' });
