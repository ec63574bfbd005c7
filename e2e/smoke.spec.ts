import { expect, test } from '@playwright/test'

test('the app loads, /health answers, and two peers in one page exchange a message over loopback WebRTC', async ({
  page,
  request,
}) => {
  const cspViolations: string[] = []
  page.on('console', (m) => void (/Content Security Policy/i.test(m.text()) && cspViolations.push(m.text())))
  await page.goto('/')
  await expect(page).toHaveTitle(/\S/)

  const health = await request.get('/health')
  expect(health.ok()).toBe(true)
  expect(await health.json()).toMatchObject({ ok: true })

  // Fails (with the ICE states) unless Chromium gathers loopback candidates:
  // see the flags and permissions in playwright.config.ts.
  const received = await page.evaluate(async () => {
    const a = new RTCPeerConnection({ iceServers: [] })
    const b = new RTCPeerConnection({ iceServers: [] })
    let timer: ReturnType<typeof setTimeout> | undefined
    try {
      a.onicecandidate = (e) => void (e.candidate && b.addIceCandidate(e.candidate))
      b.onicecandidate = (e) => void (e.candidate && a.addIceCandidate(e.candidate))
      const message = new Promise<string>((resolve) => {
        b.ondatachannel = (e) => (e.channel.onmessage = (m: MessageEvent<string>) => resolve(m.data))
      })
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no message in 15 s; ICE ${a.iceConnectionState}/${b.iceConnectionState}`)),
          15_000,
        )
      })
      const channel = a.createDataChannel('smoke')
      channel.onopen = () => channel.send('hi')
      const offer = await a.createOffer()
      await a.setLocalDescription(offer)
      await b.setRemoteDescription(offer)
      const answer = await b.createAnswer()
      await b.setLocalDescription(answer)
      await a.setRemoteDescription(answer)
      return await Promise.race([message, timeout])
    } finally {
      clearTimeout(timer)
      a.close()
      b.close()
    }
  })
  expect(received).toBe('hi')
  expect(cspViolations).toEqual([])
})
