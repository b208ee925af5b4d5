/**
 * The conversion function the webhook serves (`main.ts` and `standalone.ts` both take it from
 * here): @sandbank/api's pure v1alpha1 <-> v1beta1 conversion.
 */
import { convertObject } from '@sandbank/api';
import type { Converter } from './review.js';

export const convert: Converter = convertObject;
