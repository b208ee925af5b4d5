/** How the router authenticates callers (ROUTER_AUTH_MODE); its own module so that config and auth can both import it. */
import { z } from 'zod';

export const AuthMode = z.enum(['token', 'kubernetes', 'none']);
export type AuthMode = z.infer<typeof AuthMode>;
