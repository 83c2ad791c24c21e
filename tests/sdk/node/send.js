// Send 250 tracks, an identify and a page through the real @segment/analytics-node.
// Usage: node send.js <host> <writeKey> <runId>; prints the SDK's errors and exits 1 on any.
const { Analytics } = require('@segment/analytics-node')

async function main() {
  const [host, writeKey, runId] = process.argv.slice(2)
  const analytics = new Analytics({ writeKey, host, flushAt: 100, flushInterval: 500 })
  const errors = []
  analytics.on('error', (error) => errors.push(String(error && (error.message || error.code || error))))
  for (let i = 0; i < 250; i++) {
    analytics.track({
      userId: `node-user-${i % 7}`,
      event: 'Signed Up',
      properties: { plan: i % 2 ? 'pro' : 'free', index: i },
      context: { testRun: runId },
    })
  }
  analytics.identify({ userId: 'node-user-1', traits: { email: 'node@example.test' } })
  analytics.page({ anonymousId: 'node-anon', name: 'Home' })
  await analytics.closeAndFlush({ timeout: 60000 })
  if (errors.length) {
    console.error(JSON.stringify(errors))
    process.exit(1)
  }
  console.log('sent')
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
