/**
 * The conversion webhook's metrics, registered in the controller's registry. Labels are closed
 * sets: versions as `versionLabel` reduces them (review.ts), results from `ConversionOutcome`.
 */
import { Counter, Histogram, type Registry } from 'prom-client';

/** What became of one POST /convert. */
export type ConversionOutcome =
  'success' | 'failed' | 'invalid' | 'too_large' | 'busy' | 'unsupported_media_type' | 'aborted';

export interface WebhookMetrics {
  conversion(from: string, to: string, result: ConversionOutcome, seconds: number): void;
}

/**
 * Dense from 1 ms to 100 ms (a page of objects converts in well under that) and a tail to 10 s
 * for 32 MiB lists on a loaded node: the API server gives up after its own timeout (30 s max).
 */
const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export function createWebhookMetrics(registry: Registry): WebhookMetrics {
  const total = new Counter({
    name: 'sandbank_conversion_requests_total',
    help: 'ConversionReviews answered by the webhook, by source version (mixed when several), desired version and result.',
    labelNames: ['from', 'to', 'result'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'sandbank_conversion_duration_seconds',
    help: 'Time from the first byte of a ConversionReview to its answer, by result.',
    labelNames: ['result'] as const,
    buckets: BUCKETS,
    registers: [registry],
  });
  return {
    conversion(from, to, result, seconds) {
      total.inc({ from, to, result });
      duration.observe({ result }, seconds);
    },
  };
}
