/** Does an MQTT broker accept a connection at `url` (MQTT 3.1.1, 2 s)? */
export async function brokerAnswers(url: string): Promise<boolean> {
  const { connectAsync } = await import('mqtt');
  try {
    const client = await connectAsync(url, { protocolVersion: 4, connectTimeout: 2000, reconnectPeriod: 0 });
    await client.endAsync();
    return true;
  } catch {
    return false;
  }
}
