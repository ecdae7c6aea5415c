/**
 * The compliance part of the dossier, from scripts/compliance.ts's result: open findings, and the
 * acknowledgements added and removed since the previous release, one entry per rule and resource
 * with the stages it applies to (Dev and Prod carry the same acknowledgements) and what the rule requires.
 */
import type { Acknowledgement } from '../../scripts/acknowledgements';
import { diffCompliance, type ComplianceResult, type OpenFinding } from '../../scripts/compliance';
import type { RuleCatalog } from './rule-catalog';

/** One rule on one resource, across the stages where it is acknowledged. */
export interface AcknowledgementEntry {
  readonly pack: string;
  readonly rule: string;
  /** The construct path below the stage (`Inference/Api/Resource`); the pipeline's own paths in full. */
  readonly resource: string;
  readonly stages: readonly string[];
  readonly reasons: readonly string[];
  /** What the rule requires, when the rule packs describe it. */
  readonly requires: string | null;
}

/** The compliance section. */
export interface ComplianceChanges {
  readonly open: readonly OpenFinding[];
  readonly acknowledgements: number;
  readonly added: readonly AcknowledgementEntry[];
  readonly removed: readonly AcknowledgementEntry[];
}

/** A construct path without its stage prefix, so Dev's and Prod's entries of one resource match. */
export function resourceOf(a: Acknowledgement): string {
  if (a.stage === 'pipeline') return a.path;
  const marker = `/${a.stage}/`;
  const at = a.path.indexOf(marker);
  return at >= 0 ? a.path.slice(at + marker.length) : a.path;
}

/** Groups acknowledgement rows into one entry per pack, rule and resource. */
export function groupAcknowledgements(
  rows: readonly Acknowledgement[],
  catalog: RuleCatalog,
): AcknowledgementEntry[] {
  const groups = new Map<
    string,
    { pack: string; rule: string; resource: string; stages: Set<string>; reasons: Set<string> }
  >();
  for (const row of rows) {
    const resource = resourceOf(row);
    const key = `${row.pack}\u0000${row.rule}\u0000${resource}`;
    const group = groups.get(key) ?? {
      pack: row.pack,
      rule: row.rule,
      resource,
      stages: new Set(),
      reasons: new Set(),
    };
    group.stages.add(row.stage);
    group.reasons.add(row.reason);
    groups.set(key, group);
  }
  const stageOrder = (s: string): number => ['pipeline', 'Dev', 'Prod'].indexOf(s) + 1 || 9;
  return [...groups.values()]
    .map((g) => ({
      pack: g.pack,
      rule: g.rule,
      resource: g.resource,
      stages: [...g.stages].sort((a, b) => stageOrder(a) - stageOrder(b) || a.localeCompare(b)),
      reasons: [...g.reasons],
      requires: catalog.get(g.rule.replace(/\[.*\]$/, '')) ?? null,
    }))
    .sort(
      (a, b) =>
        a.pack.localeCompare(b.pack) || a.rule.localeCompare(b.rule) || a.resource.localeCompare(b.resource),
    );
}

/** What changed in compliance since `previous` (everything counts as new when there is none). */
export function complianceChanges(
  current: ComplianceResult,
  previous: ComplianceResult | undefined,
  catalog: RuleCatalog,
): ComplianceChanges {
  const d = diffCompliance(previous ?? { packs: [], open: [], acknowledgements: [] }, current);
  return {
    open: current.open,
    acknowledgements: current.acknowledgements.length,
    added: groupAcknowledgements(d.added, catalog),
    removed: groupAcknowledgements(d.removed, catalog),
  };
}
