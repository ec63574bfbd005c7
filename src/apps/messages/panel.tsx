/**
 * The messages app's panel: a messenger between nodes. Conversations by
 * friendly name with unread counts, contacts to start one with, the open
 * conversation's thread with delivery marks on sent messages, and a compose
 * box that counts UTF-8 bytes against the limit and refuses beyond it (the
 * text is never cut).
 *
 * What it shows is re-read from the API: when the app says something changed
 * (coalesced to one refresh a frame), when the mesh's known nodes change (a
 * contact's key may have arrived), and every second while a sent message is
 * pending (a broadcast turns silent at its deadline without an event).
 */
import {
  useEffect,
  useId,
  useLayoutEffect,
  useMemo,
  useReducer,
  useRef,
  useState,
  type FormEvent,
  type KeyboardEvent,
} from 'react'
import { nameFromId } from '../../core/identity.ts'
import type { NodeInfo } from '../../core/modules/module.ts'
import type { AppPanelProps } from '../../ui/app-panels.tsx'
import { clockTime, countOf, errorMessage, formatCount, isoTime, localDateTime } from '../../ui/format.ts'
import { createFrameScheduler } from '../../ui/frame.ts'
import { useInspector } from '../../ui/inspector-context.tsx'
import type { Conversation, Message, MessagesApi } from './app.ts'

const EVERYONE = '*'
const PENDING_REFRESH_MS = 1000
/** Within this many px of the bottom, the thread follows new messages. */
const STICK_PX = 48

const encoder = new TextEncoder()

interface ShownError {
  code: string | null
  message: string
}

function shownError(e: unknown): ShownError {
  const code = typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string' ? e.code : null
  return { code, message: errorMessage(e) }
}

/** Sent and received messages of one conversation, each once (a message being sealed can briefly be listed twice). */
function unique(messages: Message[]): Message[] {
  const seen = new Set<string>()
  return messages.filter((m) => {
    const key = `${m.dir}:${m.from}:${m.id}`
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
}

export default function MessagesPanel({ api }: AppPanelProps<MessagesApi>) {
  const id = useId()
  const [version, refresh] = useReducer((n: number) => n + 1, 0)
  const [selected, setSelected] = useState<string | null>(null)
  const [thread, setThread] = useState<{ peer: string; messages: Message[] } | null>(null)
  const [drafts, setDrafts] = useState<Readonly<Record<string, string>>>({})
  const [error, setError] = useState<ShownError | null>(null)
  const [visible, setVisible] = useState(() => document.visibilityState === 'visible')
  const known = useInspector((s) => s.mesh?.known)

  useEffect(() => {
    const scheduler = createFrameScheduler(refresh)
    const unsubscribe = api.subscribe(() => scheduler.schedule())
    return () => {
      unsubscribe()
      scheduler.cancel()
    }
  }, [api])

  useEffect(() => {
    const onVisibility = () => setVisible(document.visibilityState === 'visible')
    document.addEventListener('visibilitychange', onVisibility)
    return () => document.removeEventListener('visibilitychange', onVisibility)
  }, [])

  // Re-read when the app said so (`version`) or the known nodes moved (`known`: a key may have arrived).
  const conversations = useMemo(() => api.conversations(), [api, version])
  const contacts = useMemo(() => api.contacts(), [api, version, known])

  useEffect(() => {
    if (selected === null) return
    let current = true
    api.list(selected).then(
      (messages) => {
        if (current) setThread({ peer: selected, messages: unique(messages) })
      },
      (e: unknown) => {
        if (current) setError(shownError(e))
      },
    )
    return () => {
      current = false
    }
  }, [api, selected, version])

  const open = selected === null ? undefined : conversations.find((c) => c.peer === selected)
  const unreadOpen = open?.unread ?? 0
  // New messages in the open conversation are read once this tab is seen.
  useEffect(() => {
    if (selected !== null && unreadOpen > 0 && visible) api.markRead(selected)
  }, [api, selected, unreadOpen, visible])

  const messages = thread !== null && thread.peer === selected ? thread.messages : null
  const pending = messages?.some((m) => m.dir === 'out' && m.status === 'pending') ?? false
  useEffect(() => {
    if (!pending) return
    const timer = setInterval(refresh, PENDING_REFRESH_MS)
    return () => clearInterval(timer)
  }, [pending])

  const openConversation = (peer: string) => {
    setSelected(peer)
    setError(null)
    api.markRead(peer)
  }

  const contact = selected === null || selected === EVERYONE ? null : (contacts.find((c) => c.id === selected) ?? null)
  const peerName =
    selected === EVERYONE
      ? 'everyone'
      : (contact?.name ?? open?.name ?? (selected !== null ? selected.slice(0, 8) : ''))

  return (
    <section className="panel messages-panel" data-testid="messages-panel" aria-labelledby={`${id}-title`}>
      <div className="panel-head">
        <h2 id={`${id}-title`}>Messages</h2>
        <span className="tag">end-to-end encrypted</span>
      </div>
      <div className="msg-layout">
        <div className="msg-side">
          <ConversationList conversations={conversations} selected={selected} onOpen={openConversation} />
          <ContactList contacts={contacts} onOpen={openConversation} />
        </div>
        <div className="msg-main">
          {selected === null ? (
            <p className="msg-empty muted">
              Pick a conversation or a contact. Direct messages are sealed to their recipient: nodes that hold either
              series see only ciphertext.
            </p>
          ) : (
            <>
              <ThreadHead peer={selected} name={peerName} contact={contact} />
              <Thread key={selected} name={peerName} messages={messages} />
              <Compose
                api={api}
                peer={selected}
                name={peerName}
                canReceive={selected === EVERYONE || (contact?.ek ?? null) !== null}
                draft={drafts[selected] ?? ''}
                onDraft={(text) => setDrafts((d) => ({ ...d, [selected]: text }))}
                onError={setError}
              />
            </>
          )}
          {error !== null && (
            <p className="error-text msg-error" role="alert" data-testid="messages-error" data-code={error.code ?? ''}>
              {error.code !== null && <code className="msg-error-code">{error.code}</code>} {error.message}
            </p>
          )}
        </div>
      </div>
    </section>
  )
}

function ConversationList({
  conversations,
  selected,
  onOpen,
}: {
  conversations: readonly Conversation[]
  selected: string | null
  onOpen: (peer: string) => void
}) {
  const id = useId()
  return (
    <nav className="msg-section" aria-labelledby={`${id}-title`}>
      <h3 id={`${id}-title`} className="subhead">
        Conversations
      </h3>
      {conversations.length === 0 ? (
        <p className="muted small">None yet: start one with a contact below.</p>
      ) : (
        <ul className="msg-list" data-testid="conversations">
          {conversations.map((c) => (
            <li key={c.peer}>
              <button
                type="button"
                className="msg-conv"
                aria-current={c.peer === selected ? 'true' : undefined}
                data-testid="conversation"
                data-peer={c.peer}
                title={c.peer === EVERYONE ? 'Broadcasts, to and from every node' : c.peer}
                onClick={() => onOpen(c.peer)}
              >
                <span className="msg-conv-name">{c.name}</span>
                <span className="msg-conv-meta muted small">
                  {countOf(c.count, 'message', 'messages')} ·{' '}
                  <time dateTime={isoTime(c.lastT)}>{clockTime(c.lastT)}</time>
                </span>
                {c.unread > 0 && (
                  <span className="msg-unread" data-testid="unread" data-value={c.unread}>
                    {formatCount(c.unread)}
                    <span className="visually-hidden"> unread</span>
                  </span>
                )}
              </button>
            </li>
          ))}
        </ul>
      )}
    </nav>
  )
}

function ContactList({ contacts, onOpen }: { contacts: readonly NodeInfo[]; onOpen: (peer: string) => void }) {
  const id = useId()
  const sorted = useMemo(
    () =>
      [...contacts].sort(
        (a, b) =>
          Number(b.ek !== null) - Number(a.ek !== null) ||
          Number(b.linked) - Number(a.linked) ||
          a.name.localeCompare(b.name),
      ),
    [contacts],
  )
  return (
    <div className="msg-section" role="group" aria-labelledby={`${id}-title`}>
      <h3 id={`${id}-title`} className="subhead">
        New conversation
      </h3>
      <ul className="msg-list msg-contacts" data-testid="contacts">
        <li>
          <button
            type="button"
            className="msg-contact"
            data-testid="contact"
            data-peer={EVERYONE}
            onClick={() => onOpen(EVERYONE)}
          >
            <span className="msg-conv-name">everyone</span>
            <span className="muted small">broadcast, in the clear</span>
          </button>
        </li>
        {sorted.map((c) => (
          <li key={c.id}>
            <button
              type="button"
              className="msg-contact"
              disabled={c.ek === null}
              data-testid="contact"
              data-peer={c.id}
              title={
                c.ek === null
                  ? `${c.name} (${c.id}): its encryption key has not reached this node yet`
                  : `${c.name} (${c.id})`
              }
              onClick={() => onOpen(c.id)}
            >
              <span className="msg-conv-name">
                <span className={c.linked ? 'msg-dot is-linked' : 'msg-dot'} aria-hidden="true" />
                {c.name}
              </span>
              <span className="muted small">{c.ek === null ? 'no key yet' : c.linked ? 'linked' : 'via the mesh'}</span>
            </button>
          </li>
        ))}
      </ul>
      {contacts.length === 0 && <p className="muted small">No other node known yet.</p>}
    </div>
  )
}

function ThreadHead({ peer, name, contact }: { peer: string; name: string; contact: NodeInfo | null }) {
  return (
    <div className="msg-thread-head">
      <h3 className="msg-thread-name" data-testid="thread-name">
        {name}
      </h3>
      {peer === EVERYONE ? (
        <span className="muted small">Broadcasts: plain text to every node of the mesh.</span>
      ) : (
        <span className="muted small">
          <span className="mono" title={peer}>
            {peer.slice(0, 8)}
          </span>{' '}
          · {contact === null ? 'not known now' : contact.linked ? 'linked' : 'reached via the mesh'} · sealed to its
          key
        </span>
      )}
    </div>
  )
}

function Thread({ name, messages }: { name: string; messages: Message[] | null }) {
  const ref = useRef<HTMLDivElement>(null)
  const stick = useRef(true)
  const count = messages?.length ?? 0
  useLayoutEffect(() => {
    const el = ref.current
    if (el && stick.current) el.scrollTop = el.scrollHeight
  }, [count])
  const onScroll = () => {
    const el = ref.current
    if (el) stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < STICK_PX
  }
  return (
    <div
      ref={ref}
      className="msg-thread"
      role="log"
      aria-label={`Messages with ${name}`}
      tabIndex={0}
      onScroll={onScroll}
      data-testid="thread"
    >
      {messages === null ? (
        <p className="msg-empty muted small">Loading…</p>
      ) : messages.length === 0 ? (
        <p className="msg-empty muted small">No messages yet.</p>
      ) : (
        <ol className="msg-items">
          {messages.map((m) => (
            <MessageItem key={`${m.dir}:${m.from}:${m.id}`} m={m} peerName={name} />
          ))}
        </ol>
      )}
    </div>
  )
}

function MessageItem({ m, peerName }: { m: Message; peerName: string }) {
  return (
    <li className={`msg msg-${m.dir}`} data-testid="message" data-id={m.id} data-dir={m.dir} data-status={m.status}>
      {m.broadcast && m.dir === 'in' ? (
        <span className="msg-from small" title={m.from}>
          {nameFromId(m.from)}
          <span className="visually-hidden"> wrote:</span>
        </span>
      ) : (
        <span className="visually-hidden">{m.dir === 'out' ? 'You wrote:' : `${peerName} wrote:`}</span>
      )}
      {m.text === null ? (
        <p className="msg-text msg-sealed">could not be decrypted here</p>
      ) : (
        <p className="msg-text" data-testid="message-text">
          {m.text}
        </p>
      )}
      <p className="msg-meta">
        <time dateTime={isoTime(m.t)} title={localDateTime(m.t)}>
          {clockTime(m.t)}
        </time>
        {m.dir === 'out' && <Mark m={m} />}
      </p>
    </li>
  )
}

/** Symbol, word, and what it means. */
const MARKS = {
  delivered: ['✓', 'delivered', 'the recipient took it'],
  refused: ['✗', 'refused', 'the recipient answered NO'],
  silent: ['·', 'silent', 'no answer by the deadline'],
  pending: ['…', 'pending', 'waiting for the receipt'],
  failed: ['!', 'failed', 'never sent'],
} as const satisfies Record<Message['status'], readonly [string, string, string]>

/** A sent message's delivery mark: ✓ delivered, ✗ refused, · silent, … pending, ! failed. */
function Mark({ m }: { m: Message }) {
  const [symbol, word, meaning] = MARKS[m.status]
  const counts = m.broadcast ? `${m.yes} took it · ${m.no} refused · ${m.silent} silent` : null
  const title = [`${word}: ${meaning}`, m.reason, counts].filter((s) => s !== null && s !== '').join(' — ')
  return (
    <span className={`msg-mark mark-${m.status}`} title={title} data-testid="mark">
      <span className="msg-mark-symbol" aria-hidden="true">
        {symbol}
      </span>{' '}
      {word}
      {m.broadcast && m.yes + m.no + m.silent > 0 && ` (${m.yes} of ${m.yes + m.no + m.silent})`}
      {m.reason !== null && (m.status === 'refused' || m.status === 'failed') && (
        <span className="msg-reason">: {m.reason}</span>
      )}
    </span>
  )
}

function Compose({
  api,
  peer,
  name,
  canReceive,
  draft,
  onDraft,
  onError,
}: {
  api: MessagesApi
  peer: string
  name: string
  canReceive: boolean
  draft: string
  onDraft: (text: string) => void
  onError: (e: ShownError | null) => void
}) {
  const id = useId()
  const bytes = useMemo(() => encoder.encode(draft).length, [draft])
  const max = api.maxTextBytes
  const over = bytes > max
  const blocked = !canReceive
    ? `${name}'s encryption key has not reached this node yet: nothing can be sealed to it until it does.`
    : over
      ? `${formatCount(bytes - max)} bytes over the limit: shorten the text (it is never cut).`
      : null
  const empty = draft.trim().length === 0

  const send = () => {
    if (blocked !== null || empty) return
    try {
      if (peer === EVERYONE) api.broadcast(draft)
      else api.send(peer, draft)
      onDraft('')
      onError(null)
    } catch (e: unknown) {
      onError(shownError(e))
    }
  }
  const onSubmit = (e: FormEvent) => {
    e.preventDefault()
    send()
  }
  const onKeyDown = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    if (e.key !== 'Enter' || e.shiftKey || e.nativeEvent.isComposing) return
    e.preventDefault()
    send()
  }

  return (
    <form className="msg-compose" onSubmit={onSubmit} aria-label={`Write to ${name}`}>
      <label htmlFor={`${id}-text`} className="visually-hidden">
        Message to {name}
      </label>
      <textarea
        id={`${id}-text`}
        className="input msg-input"
        rows={2}
        value={draft}
        placeholder={peer === EVERYONE ? 'Message everyone…' : `Message ${name}…`}
        onChange={(e) => onDraft(e.target.value)}
        onKeyDown={onKeyDown}
        aria-invalid={over ? true : undefined}
        aria-describedby={`${id}-count ${id}-why`}
        data-testid="compose"
      />
      <div className="msg-compose-foot">
        <span
          id={`${id}-count`}
          className={over ? 'msg-count error-text' : 'msg-count muted'}
          data-testid="byte-count"
          data-bytes={bytes}
        >
          {formatCount(bytes)} / {formatCount(max)} bytes
        </span>
        <span id={`${id}-why`} className="msg-why" aria-live="polite">
          {blocked !== null ? (
            <span className="error-text" data-testid="compose-blocked">
              {blocked}
            </span>
          ) : (
            <span className="muted">Enter sends · Shift+Enter for a new line</span>
          )}
        </span>
        <button type="submit" className="button button-primary" disabled={blocked !== null || empty} data-testid="send">
          Send
        </button>
      </div>
    </form>
  )
}
