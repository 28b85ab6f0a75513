import type { CheckSnapshot, HealthStatus } from './types.js';

/** Service-level fields of the IETF response, shown to callers allowed to see details. */
export interface ServiceFields {
  version: string | undefined;
  releaseId: string | undefined;
  serviceId: string | undefined;
  description: string | undefined;
}

/** One entry of the `checks` object of an IETF health response. */
export interface CheckEntry {
  status: HealthStatus;
  componentType?: string;
  observedValue?: unknown;
  observedUnit?: string;
  time?: string;
  output?: string;
  [extra: string]: unknown;
}

/** The body of a probe response (`application/health+json`). */
export interface HealthReport {
  status: HealthStatus;
  version?: string;
  releaseId?: string;
  serviceId?: string;
  description?: string;
  output?: string;
  checks?: Record<string, CheckEntry[]>;
}

/** What a probe answers. */
export interface ProbeVerdict {
  status: HealthStatus;
  output: string | undefined;
}

const PENDING = 'pending: the first run has not finished';

/**
 * What a check contributes to its probe. A check with no result yet fails readiness and startup
 * (not verified yet) but not liveness: the orchestrator must not restart a process because its
 * first event-loop sample is not in.
 */
function contribution(check: CheckSnapshot): HealthStatus {
  const status = check.result?.status ?? (check.kind === 'liveness' ? 'pass' : 'fail');
  // A non-critical failure degrades, it does not fail.
  return status === 'fail' && !check.critical ? 'warn' : status;
}

/** Folds the checks of one probe, plus a blocking reason, into its status. */
export function verdict(
  checks: readonly CheckSnapshot[],
  blocked: string | undefined,
): ProbeVerdict {
  if (blocked !== undefined) return { status: 'fail', output: blocked };
  let status: HealthStatus = 'pass';
  let output: string | undefined;
  for (const check of checks) {
    const c = contribution(check);
    if (c === 'fail') {
      return { status: 'fail', output: `check "${check.name}" fails` };
    }
    if (c === 'warn' && status === 'pass') {
      status = 'warn';
      output =
        check.result?.status === 'fail'
          ? `non-critical check "${check.name}" fails`
          : `check "${check.name}" warns`;
    }
  }
  return { status, output };
}

function entryKey(check: CheckSnapshot): string {
  const measurement = check.result?.measurement;
  return measurement === undefined ? check.name : `${check.name}:${measurement}`;
}

function entryOf(check: CheckSnapshot): CheckEntry {
  const r = check.result;
  if (r === undefined) return { status: contribution(check), output: PENDING };
  // Extra details first so that the standard fields cannot be overwritten by them.
  const entry: CheckEntry = { ...r.details, status: r.status };
  if (r.componentType !== undefined) entry.componentType = r.componentType;
  if (r.observedValue !== undefined) entry.observedValue = r.observedValue;
  if (r.observedUnit !== undefined) entry.observedUnit = r.observedUnit;
  if (check.time !== undefined) entry.time = check.time;
  if (r.output !== undefined) entry.output = r.output;
  if (!check.critical) entry.critical = false;
  return entry;
}

/** The full report, for callers allowed to see details. */
export function detailedReport(
  v: ProbeVerdict,
  checks: readonly CheckSnapshot[],
  service: ServiceFields,
): HealthReport {
  const report: HealthReport = { status: v.status };
  if (service.version !== undefined) report.version = service.version;
  if (service.releaseId !== undefined) report.releaseId = service.releaseId;
  if (service.serviceId !== undefined) report.serviceId = service.serviceId;
  if (service.description !== undefined) report.description = service.description;
  if (v.output !== undefined) report.output = v.output;
  if (checks.length > 0) {
    const out: Record<string, CheckEntry[]> = {};
    for (const check of checks) (out[entryKey(check)] ??= []).push(entryOf(check));
    report.checks = out;
  }
  return report;
}

/** HTTP status of a probe answer: pass and warn are 200, fail is 503. */
export function httpStatus(status: HealthStatus): number {
  return status === 'fail' ? 503 : 200;
}
