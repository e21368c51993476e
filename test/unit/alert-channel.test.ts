import { describe, expect, it } from 'vitest'
import { alertQuestions, askAlertChannel, CHANNEL_PROMPT, channelAlreadySet, parseChannelChoice } from '../../lib/env/alert-channel.ts'

/** A terminal that answers in order and records what it was asked (and whether it echoed). */
function terminal(answers: string[]) {
  const asked: string[] = []
  return {
    asked,
    ask: async (prompt: string, options: { hidden?: boolean } = {}) => {
      asked.push(`${options.hidden === true ? '[hidden] ' : ''}${prompt.split('\n')[0]}`)
      const answer = answers.shift()
      if (answer === undefined) throw new Error(`no answer left for: ${prompt}`)
      return answer
    },
  }
}

describe('parseChannelChoice', () => {
  it('takes French and English answers; empty is none', () => {
    expect(['email', 'E-mail', 'courriel', 'webhook', 'les-deux', 'both', 'aucun', 'none', '', ' AUCUN ', 'sms'].map(parseChannelChoice)).toEqual([
      'email', 'email', 'email', 'webhook', 'both', 'both', 'none', 'none', 'none', 'none', undefined,
    ])
  })
})

describe('channelAlreadySet', () => {
  it('is true once .env or --set names a server, recipients or a webhook', () => {
    expect(channelAlreadySet({}, {})).toBe(false)
    expect(channelAlreadySet({ ALERT_SMTP_HOST: '', ALERT_SMTP_PORT: '587' }, {})).toBe(false)
    expect(channelAlreadySet({ ALERT_WEBHOOK_URL: 'https://x.test/h' }, {})).toBe(true)
    expect(channelAlreadySet({}, { ALERT_SMTP_HOST: 'smtp.x.test' })).toBe(true)
  })
})

describe('askAlertChannel', () => {
  it('aucun asks nothing more', async () => {
    const t = terminal(['aucun'])
    expect(await askAlertChannel(t.ask, () => undefined)).toEqual({})
    expect(t.asked).toEqual([CHANNEL_PROMPT.split('\n')[0]])
  })

  it('les-deux: the e-mail questions (password hidden), then the webhook; empty answers keep the defaults', async () => {
    const t = terminal(['les-deux', 'smtp.x.test', '', '', 'alertes@x.test', 's3cret', 'alertes@x.test', 'ops@x.test', 'https://chat.x.test/hooks/abc'])
    expect(await askAlertChannel(t.ask, () => undefined)).toEqual({
      ALERT_SMTP_HOST: 'smtp.x.test',
      ALERT_SMTP_USER: 'alertes@x.test',
      ALERT_SMTP_PASSWORD: 's3cret',
      ALERT_EMAIL_FROM: 'alertes@x.test',
      ALERT_EMAIL_TO: 'ops@x.test',
      ALERT_WEBHOOK_URL: 'https://chat.x.test/hooks/abc',
    })
    expect(t.asked).toEqual([
      'Où envoyer les alertes (service arrêté, sauvegarde en échec, certificat, disque...) ? email, webhook, les-deux ou aucun [aucun]',
      "Serveur SMTP d'envoi, sans port (ex. smtp.mon-fournisseur.fr)",
      'Port SMTP : 587 (starttls) ou 465 (tls) [587]',
      'Chiffrement : starttls, tls ou none [starttls]',
      "Identifiant SMTP (vide : pas d'authentification)",
      '[hidden] Mot de passe SMTP (ne s’affiche pas pendant la saisie)',
      'Expéditeur des alertes (ex. alertes@mon-ecole.fr)',
      'Destinataires, séparés par des virgules (ex. admin@mon-ecole.fr)',
      'URL du webhook (Mattermost, Slack, ntfy... : http:// ou https://)',
    ])
  })

  it('no password question without a user; a wrong answer is asked again, three wrong ones stop', async () => {
    const warnings: string[] = []
    const t = terminal(['sms', 'email', 'relay.x.test', '25', 'none', '', 'a@x.test', 'b@x.test'])
    expect(await askAlertChannel(t.ask, (message) => warnings.push(message))).toEqual({ ALERT_SMTP_HOST: 'relay.x.test', ALERT_SMTP_PORT: '25', ALERT_SMTP_TLS: 'none', ALERT_EMAIL_FROM: 'a@x.test', ALERT_EMAIL_TO: 'b@x.test' })
    expect(warnings).toEqual(['"sms": answer email, webhook, les-deux or aucun'])
    expect(t.asked.some((line) => line.includes('Mot de passe'))).toBe(false)
    await expect(askAlertChannel(terminal(['a', 'b', 'c']).ask, () => undefined)).rejects.toThrow('alert channel: "c" is not email, webhook, les-deux or aucun')
  })

  it('webhook alone asks one question', () => {
    expect(alertQuestions('webhook').map((q) => q.name)).toEqual(['ALERT_WEBHOOK_URL'])
    expect(alertQuestions('none')).toEqual([])
  })
})
