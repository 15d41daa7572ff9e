/**
 * `tributary/features`: declarative feature definitions on top of the DSL (see the README,
 * "Feature definitions").
 */
export { Agg } from './aggregations.ts';
export type { Aggregation, AnyAggregation, ResultOf, TopKEntry, DecayState, MomentsState } from './aggregations.ts';
export { defineFeatures, feature, featureOfEach, buildFeatures, readFeatures } from './definition.ts';
export type { FeatureDefinition, FeatureSpec, FeatureValues, FeatureState, ValueOf } from './definition.ts';
export { featureRoutes } from './serving.ts';
export type { FeatureStoreReader } from './serving.ts';
export { durationMs, tileStart } from './windows.ts';
export type { Duration, WindowSpec } from './windows.ts';
export type { HllState } from './hyperloglog.ts';
export type { SpaceSavingState } from './space-saving.ts';
export { backfillFeatures, backfillFeaturesAsync, flattenFeatures } from './backfill.ts';
export type { BackfillOptions, LabelPoint, LakeBackfill, PastEvent } from './backfill.ts';
