/**
 * 25.3 → 25.4. 25.4.0 puts four revisions on top of 25.3.3's head 8f85e9d0bd4e
 * (backend.ai@25.4.0:src/ai/backend/manager/models/alembic/versions/): c002140f14d3 adds
 * images.status and the unique constraint uq_image_identifier without removing duplicates
 * (image-identifiers); d537c050dd8d gives resource_presets an id primary key and a
 * scaling_group_name, and 9fc0e92ea510 unique indexes on their names (preset-names); 70e0533aa49a
 * makes endpoint_tokens.session_owner NOT NULL (endpoint-token-owners) and drops the endpoints'
 * foreign keys to users. Nothing is re-parented: a plain `alembic upgrade` skips nothing. 25.4.0
 * is the line's only release. Its manager.toml schema is 25.3.3's
 * (backend.ai@25.4.0:src/ai/backend/manager/config.py): no key becomes required or changes
 * meaning; per-pool Redis overrides (redis.override-configs, in etcd) are optional, so the target
 * release's own loader, which manager-starts runs on manager.toml in preflight, is the only config
 * check the hop needs. MIGRATION.md has no section for it.
 */
import { servicesStopped } from '../../steps/services-stopped.js';
import { schema } from '../../steps/schema/index.js';
import type { HopDefinition } from '../hop.js';
import { endpointTokenOwners, TOKEN_OWNER_REVISION } from './endpoint-token-owners.js';
import { IMAGE_IDENTIFIER, IMAGE_IDENTIFIER_REVISION, imageIdentifiers } from './image-identifiers.js';
import { PRESET_KEY_REVISION, PRESET_NAME_REVISION, presetNames } from './preset-names.js';

export const hop: HopDefinition = {
  from: '25.3',
  to: '25.4',
  steps: [servicesStopped, imageIdentifiers, presetNames, endpointTokenOwners, schema],
  guards: [
    { revision: IMAGE_IDENTIFIER_REVISION, step: imageIdentifiers.id, hazard: `images that share (${IMAGE_IDENTIFIER.join(', ')}), which its unique constraint uq_image_identifier refuses` },
    { revision: PRESET_KEY_REVISION, step: presetNames.id, hazard: 'a resource_presets table without its primary key pk_resource_presets, which it drops by name' },
    { revision: PRESET_NAME_REVISION, step: presetNames.id, hazard: 'resource presets that share a name, which its unique indexes refuse' },
    { revision: TOKEN_OWNER_REVISION, step: endpointTokenOwners.id, hazard: 'endpoint tokens without a session_owner, which its NOT NULL refuses' },
  ],
};
