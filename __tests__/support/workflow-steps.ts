/**
 * The repository's workflows (.github/workflows/) as the runner runs them: each bai-migrate step's
 * `with:` evaluated against vars, secrets and inputs, every input action.yml declares handed over
 * (its default where the step gives none).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

export interface Step {
  readonly name?: string;
  readonly id?: string;
  readonly uses?: string;
  readonly with?: Record<string, string | number | boolean>;
}
export type Context = Record<string, Record<string, string | undefined>>;

/** The steps of a workflow's job that run this Action (`uses: ./`). */
export function actionSteps(file: string, job: string): Step[] {
  const workflow = parse(readFileSync(join('.github/workflows', file), 'utf8')) as { jobs: Record<string, { steps: Step[] }> };
  return workflow.jobs[job]!.steps.filter((step) => step.uses === './');
}

/**
 * `${{ … }}` as the workflows here write it: dotted names (vars.X, secrets.X, inputs.x,
 * steps.id.outputs.x) and quoted strings joined by `||`, the first non-empty one winning, as in
 * GitHub's expressions; anything else fails the test, so a new form is evaluated deliberately.
 */
function evaluate(value: string | number | boolean, context: Context): string {
  return String(value).replace(/\$\{\{\s*(.*?)\s*\}\}/g, (_all, expression: string) => {
    for (const operand of expression.split('||').map((o) => o.trim())) {
      const literal = /^'(.*)'$/.exec(operand);
      if (literal) return literal[1]!;
      const path = /^([a-z]+)\.([\w.-]+)$/.exec(operand);
      if (!path) throw new Error(`the test does not evaluate \${{ ${expression} }}`);
      const found = context[path[1]!]?.[path[2]!];
      if (found) return found;
    }
    return '';
  });
}

/** What the runner hands the Action: every declared input, the step's value or action.yml's default. */
export function runnerInputs(step: Step, context: Context): Record<string, string> {
  const declared = (parse(readFileSync('action.yml', 'utf8')) as { inputs: Record<string, { default?: string }> }).inputs;
  return Object.fromEntries(Object.entries(declared).map(([name, spec]) => [name, step.with?.[name] !== undefined ? evaluate(step.with[name]!, context) : (spec.default ?? '')]));
}
