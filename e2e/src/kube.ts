// Small helpers around @kubernetes/client-node for the suites.
import { request } from 'node:https';
import type { RequestOptions } from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';

export function loadKubeConfig(path: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  return kc;
}

/**
 * The kubeconfig of the control plane the integration global setup started (or the one the
 * developer exported as SANDBANK_KUBECONFIG).
 */
export function integrationKubeConfig(): KubeConfig {
  const path = process.env['SANDBANK_KUBECONFIG'];
  if (!path) {
    throw new Error('SANDBANK_KUBECONFIG is not set: run this suite in the jest `integration` project');
  }
  return loadKubeConfig(path);
}

/** GET a path of the API server (e.g. `/api/v1/namespaces/x/pods?fieldSelector=...`) as JSON. */
export async function getJson<T>(kc: KubeConfig, path: string): Promise<T> {
  const server = kc.getCurrentCluster()?.server;
  if (!server) throw new Error('kubeconfig has no current cluster');
  const url = new URL(server + path);
  const opts: RequestOptions = { method: 'GET', headers: { accept: 'application/json' } };
  await kc.applyToHTTPSOptions(opts);
  return new Promise<T>((resolvePromise, reject) => {
    const req = request(url, opts, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        if (res.statusCode === 200) {
          try {
            resolvePromise(JSON.parse(body) as T);
          } catch (err) {
            reject(err instanceof Error ? err : new Error(String(err)));
          }
        } else {
          reject(new Error(`GET ${path}: HTTP ${res.statusCode ?? '?'}: ${body.slice(0, 500)}`));
        }
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}
