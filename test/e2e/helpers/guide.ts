/** A fenced command block of DEPLOYMENT_VPS_GUIDE.md, in reading order. */
export interface GuideBlock {
  /** 1-based line of the opening fence. */
  line: number
  /** The `## ` heading the block sits under. */
  section: string
  /** The fence's info string (`bash`). */
  lang: string
  script: string
}

/** Every fenced block of a Markdown text, in order, with the section it belongs to. */
export function guideBlocks(markdown: string): GuideBlock[] {
  const blocks: GuideBlock[] = []
  let section = ''
  let open: { line: number; lang: string; lines: string[] } | undefined
  markdown.split('\n').forEach((text, index) => {
    const fence = /^```(\S*)\s*$/.exec(text)
    if (open !== undefined) {
      if (fence !== null && fence[1] === '') {
        blocks.push({ line: open.line, section, lang: open.lang, script: open.lines.join('\n') })
        open = undefined
      } else open.lines.push(text)
    } else if (fence !== null) open = { line: index + 1, lang: fence[1] ?? '', lines: [] }
    else if (text.startsWith('## ')) section = text.slice(3).trim()
  })
  if (open !== undefined) throw new Error(`the fenced block opened at line ${open.line} is never closed`)
  return blocks
}

/** A change the test makes to the guide's commands to run them here (paths, ports, ACME server). */
export interface Override {
  why: string
  pattern: RegExp
  replacement: string
}

/** Applies the overrides to one block; counts how often each one matched. */
export function applyOverrides(script: string, overrides: readonly Override[], used: Map<Override, number>): string {
  return overrides.reduce((text, override) => {
    const global = new RegExp(override.pattern.source, override.pattern.flags.includes('g') ? override.pattern.flags : `${override.pattern.flags}g`)
    const matches = text.match(global)?.length ?? 0
    used.set(override, (used.get(override) ?? 0) + matches)
    return text.replace(global, override.replacement)
  }, script)
}
