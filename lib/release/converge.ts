import { rm } from 'node:fs/promises'
import { composeUp } from '../compose/commands.ts'
import { removeContainers } from '../docker/containers.ts'
import type { AikoEnv } from '../env/schema.ts'
import { servableNginxMode } from '../ssl/nginx-mode.ts'
import type { StackContext } from '../stack/context.ts'
import { projectContainers, waitForHealthy, waitUntilProbesPass } from '../stack/health.ts'
import { describeAction, planConvergence, type ConvergeAction, type ConvergePlan } from './converge-plan.ts'
import { renderServiceConfigs } from '../stack/start.ts'
import { observeStack } from './observe.ts'
import { recordServing } from './record.ts'
import { pointNginxAt, releaseTarget, retire, stageRelease, startBeat, startBeside } from './switch.ts'

export interface ConvergeOptions {
  healthTimeoutMs: number
}

/**
 * Observe, then converge: reads the whole state (containers, nginx, state files, leftovers of a
 * killed run), lets the pure planner decide, and carries the actions out one step at a time.
 * Returns the release that serves afterwards (undefined: nothing was ever deployed).
 */
export async function convergeStack(ctx: StackContext, env: AikoEnv, options: ConvergeOptions): Promise<ConvergePlan> {
  const observed = await ctx.output.step('observe the stack (containers, nginx, state files)', () => observeStack(ctx, ctx.target.envFile))
  const plan = planConvergence(observed)
  if (observed.maintenance)
    ctx.output.warn('nginx shows the maintenance page: a restore was interrupted. Its restore is one transaction, so the database is either as it was or the whole dump; the database from just before it is in the newest var/backups/pre-restore-*.dump (npx zx scripts/backup.mts --list)')
  if (plan.actions.length === 0) {
    ctx.output.info(plan.target === undefined ? 'nothing deployed yet: first start' : `consistent: release ${plan.target} serves, one container per service`)
    return plan
  }
  ctx.output.warn(`the stack is not consistent (a killed run, compose run by hand, a reboot): converging to release ${plan.target ?? '(none)'}, because ${plan.reason}`)
  for (const action of plan.actions) {
    if (ctx.executor.dryRun) ctx.output.info(`[dry-run] would ${describeAction(action)}`)
    else await ctx.output.step(`converge: ${describeAction(action)}`, () => act(ctx, env, action, plan.target ?? 'latest', options))
  }
  return plan
}

async function act(ctx: StackContext, env: AikoEnv, action: ConvergeAction, target: string, options: ConvergeOptions): Promise<void> {
  switch (action.kind) {
    case 'remove-one-offs':
      await ctx.executor.run(removeContainers(action.ids))
      return
    case 'remove-partial-files':
      for (const path of action.paths) await rm(path, { force: true })
      return
    case 'remove-stopped':
      await ctx.executor.run(removeContainers(action.containers.map((container) => container.id)))
      return
    case 'start-beside':
      await startBeside(releaseTarget(ctx, action.release), action.release, action.services)
      return
    case 'wait-healthy': {
      const containers = (await projectContainers(ctx)).filter((state) => state.image.endsWith(`:${action.release}`) && state.service !== 'celery-beat')
      await waitUntilProbesPass(ctx, containers, options.healthTimeoutMs)
      return
    }
    case 'start-infrastructure':
      // compose needs Redis's config file and Alertmanager its config folder to create them.
      await renderServiceConfigs(ctx, env)
      await ctx.executor.run(composeUp(releaseTarget(ctx, target).target, action.services, { noDeps: true, noRecreate: true }))
      await waitForHealthy(ctx, { services: action.services, timeoutMs: options.healthTimeoutMs * 2 })
      return
    case 'point-nginx': {
      const mode = await servableNginxMode(ctx, env)
      if (action.reload) await pointNginxAt(ctx, env, mode, action.release)
      else await stageRelease(ctx, env, mode, action.release)
      return
    }
    case 'record':
      await recordServing(ctx, action.release)
      return
    case 'retire':
      await retire(ctx, action.containers)
      return
    case 'start-beat':
      await startBeat(releaseTarget(ctx, action.release), { replace: true })
      return
  }
}
