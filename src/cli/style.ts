/**
 * Colour only for people: off when stdout is not a terminal or NO_COLOR is
 * set (https://no-color.org), on when FORCE_COLOR asks for it.
 */
import {Chalk, type ChalkInstance} from 'chalk'

export function colorEnabled(env: NodeJS.ProcessEnv = process.env, isTTY = process.stdout.isTTY === true): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0') return true
  return isTTY
}

export function createStyle(enabled = colorEnabled()): ChalkInstance {
  return new Chalk({level: enabled ? 1 : 0})
}
