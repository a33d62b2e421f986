/** 21.03 → 21.09: the upgrade guide asks for the schema upgrade alone, with every service stopped. */
import { servicesStopped } from '../../steps/services-stopped.js';
import { managerConnects } from '../../steps/manager-connects.js';
import { schema } from '../../steps/schema/index.js';
import type { HopDefinition } from '../hop.js';

export const hop: HopDefinition = { from: '21.03', to: '21.09', steps: [servicesStopped, managerConnects, schema] };
