/**
 * init-env's question about alerts: where should they go (e-mail, webhook, both, nowhere),
 * then the few values that channel needs. Asked at a terminal only, and only while .env (or
 * --set) names no channel yet; --yes and cron never see it (--set ALERT_...=... instead).
 * The terminal is reached only through the injected `ask` (lib/cli/prompt.ts).
 */
import type { Ask } from '../cli/prompt.ts'
import { usageError } from '../errors.ts'

export type ChannelChoice = 'email' | 'webhook' | 'both' | 'none'

const CHOICES: Readonly<Record<string, ChannelChoice>> = {
  email: 'email', 'e-mail': 'email', mail: 'email', courriel: 'email',
  webhook: 'webhook',
  both: 'both', 'les-deux': 'both', 'les deux': 'both', deux: 'both',
  none: 'none', aucun: 'none', '': 'none',
}

export const CHANNEL_PROMPT = 'Où envoyer les alertes (service arrêté, sauvegarde en échec, certificat, disque...) ? email, webhook, les-deux ou aucun [aucun]\n> '

/** The operator's answer, in French or English; undefined when it is none of them. */
export function parseChannelChoice(answer: string): ChannelChoice | undefined {
  return CHOICES[answer.trim().toLowerCase()]
}

const CHANNEL_NAMES = ['ALERT_SMTP_HOST', 'ALERT_EMAIL_TO', 'ALERT_WEBHOOK_URL'] as const

/** True when .env or --set already says where alerts go: then init-env asks nothing. */
export function channelAlreadySet(current: Readonly<Record<string, string>>, sets: Readonly<Record<string, string>>): boolean {
  return CHANNEL_NAMES.some((name) => (sets[name] ?? current[name] ?? '') !== '')
}

export interface AlertQuestion {
  name: string
  prompt: string
  /** Typed without echo (the SMTP password). */
  hidden?: boolean
  /** Asked only when this earlier answer is not empty. */
  onlyWith?: string
}

const EMAIL_QUESTIONS: readonly AlertQuestion[] = [
  { name: 'ALERT_SMTP_HOST', prompt: "Serveur SMTP d'envoi, sans port (ex. smtp.mon-fournisseur.fr)\n> " },
  { name: 'ALERT_SMTP_PORT', prompt: 'Port SMTP : 587 (starttls) ou 465 (tls) [587]\n> ' },
  { name: 'ALERT_SMTP_TLS', prompt: 'Chiffrement : starttls, tls ou none [starttls]\n> ' },
  { name: 'ALERT_SMTP_USER', prompt: "Identifiant SMTP (vide : pas d'authentification)\n> " },
  { name: 'ALERT_SMTP_PASSWORD', prompt: 'Mot de passe SMTP (ne s’affiche pas pendant la saisie)\n> ', hidden: true, onlyWith: 'ALERT_SMTP_USER' },
  { name: 'ALERT_EMAIL_FROM', prompt: 'Expéditeur des alertes (ex. alertes@mon-ecole.fr)\n> ' },
  { name: 'ALERT_EMAIL_TO', prompt: 'Destinataires, séparés par des virgules (ex. admin@mon-ecole.fr)\n> ' },
]

const WEBHOOK_QUESTIONS: readonly AlertQuestion[] = [{ name: 'ALERT_WEBHOOK_URL', prompt: 'URL du webhook (Mattermost, Slack, ntfy... : http:// ou https://)\n> ' }]

/** The questions of a channel choice, in order. */
export function alertQuestions(choice: ChannelChoice): readonly AlertQuestion[] {
  return [...(choice === 'email' || choice === 'both' ? EMAIL_QUESTIONS : []), ...(choice === 'webhook' || choice === 'both' ? WEBHOOK_QUESTIONS : [])]
}

/** The answers worth writing: empty ones are left out, so the defaults of env.example (port 587, starttls) apply. */
export function alertAnswers(answers: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(answers).filter(([, value]) => value !== ''))
}

/**
 * Asks the channel (three tries), then its questions; returns the answers for prepareEnv.
 * "aucun" (or an empty answer) asks nothing more: status then warns that alerts go nowhere.
 */
export async function askAlertChannel(ask: Ask, warn: (message: string) => void): Promise<Record<string, string>> {
  let choice: ChannelChoice | undefined
  for (let attempt = 1; choice === undefined; attempt++) {
    const answer = await ask(CHANNEL_PROMPT)
    choice = parseChannelChoice(answer)
    if (choice !== undefined) break
    if (attempt === 3) throw usageError(`alert channel: "${answer.trim()}" is not email, webhook, les-deux or aucun`, 'run init-env again, or give the channel with --set (e.g. --set ALERT_WEBHOOK_URL=https://...)')
    warn(`"${answer.trim()}": answer email, webhook, les-deux or aucun`)
  }
  const answers: Record<string, string> = {}
  for (const item of alertQuestions(choice)) {
    if (item.onlyWith !== undefined && (answers[item.onlyWith] ?? '') === '') continue
    answers[item.name] = (await ask(item.prompt, { hidden: item.hidden === true })).trim()
  }
  return alertAnswers(answers)
}
