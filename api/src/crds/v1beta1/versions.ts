/** Group/version strings of the v1beta1 API (upstream agent-sandbox v1.0). */
export const SANDBOX_GROUP = 'agents.x-k8s.io';
export const SANDBOX_VERSION = 'v1beta1';
export const SANDBOX_API_VERSION = `${SANDBOX_GROUP}/${SANDBOX_VERSION}`;

export const EXTENSIONS_GROUP = 'extensions.agents.x-k8s.io';
export const EXTENSIONS_VERSION = 'v1beta1';
export const EXTENSIONS_API_VERSION = `${EXTENSIONS_GROUP}/${EXTENSIONS_VERSION}`;
