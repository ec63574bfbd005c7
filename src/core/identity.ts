/**
 * Node identity: the id is the first 16 bytes of SHA-256(public key) in hex;
 * the name is a short human-friendly label derived from the id (not unique,
 * not authoritative — the id is).
 */
import { sha256Bytes, toHex } from './series/hash.ts'

export function nodeIdFromPublicKey(publicKey: Uint8Array): string {
  return toHex(sha256Bytes(publicKey).subarray(0, 16))
}

const ADJECTIVES = [
  'amber', 'bold', 'brisk', 'calm', 'clever', 'cosmic', 'crisp', 'dapper', 'eager', 'fair', 'fleet', 'gentle',
  'glad', 'grand', 'hardy', 'humble', 'jolly', 'keen', 'kind', 'lively', 'lucid', 'lucky', 'merry', 'mighty',
  'misty', 'noble', 'odd', 'plucky', 'polite', 'proud', 'quick', 'quiet', 'rapid', 'ready', 'rosy', 'royal',
  'rustic', 'sharp', 'shy', 'silent', 'sleek', 'smooth', 'snowy', 'solar', 'spry', 'steady', 'stout', 'sunny',
  'swift', 'tender', 'tidy', 'tiny', 'tough', 'true', 'vivid', 'warm', 'wild', 'wise', 'witty', 'young',
  'zany', 'zesty', 'azure', 'lunar',
] as const
const NOUNS = [
  'otter', 'falcon', 'badger', 'heron', 'lynx', 'panda', 'raven', 'tiger', 'walrus', 'whale', 'wolf', 'yak',
  'zebra', 'bison', 'camel', 'crane', 'dingo', 'eagle', 'ferret', 'gecko', 'hare', 'ibis', 'jaguar', 'koala',
  'lemur', 'marten', 'newt', 'ocelot', 'owl', 'puffin', 'quail', 'robin', 'seal', 'stoat', 'swan', 'tapir',
  'toad', 'viper', 'vole', 'wren', 'beaver', 'cobra', 'dove', 'elk', 'finch', 'goose', 'hawk', 'iguana',
  'jay', 'kiwi', 'llama', 'moose', 'mole', 'orca', 'pika', 'ram', 'shrew', 'trout', 'urchin', 'wombat',
  'fox', 'mink', 'lark', 'bee',
] as const

/** A short name like `swift-otter-3fa2` derived from a node id. */
export function nameFromId(id: string): string {
  const a = parseInt(id.slice(0, 2), 16) % ADJECTIVES.length
  const n = parseInt(id.slice(2, 4), 16) % NOUNS.length
  return `${ADJECTIVES[a]}-${NOUNS[n]}-${id.slice(4, 8)}`
}
