declare module 'node-device-detector/parser/bot-abstract-parser' {
  /** Matomo device-detector's bot list (name, category and operator of ~800 crawlers), ported to Node. */
  export default class BotParser {
    parse(userAgent: string): { name: string; category: string; url: string; producer: { name?: string; url?: string } } | null;
  }
}
