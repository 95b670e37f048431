import type { Metadata } from "next";
import type { ReactNode } from "react";

import { strategy } from "@/lib/config";

import "./globals.css";

export const metadata: Metadata = { title: "Tessera example: Next.js + Auth.js" };

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <head>
        <meta name="viewport" content="width=device-width, initial-scale=1" />
      </head>
      <body>
        <header>
          <a href="/">Orders (Tessera example)</a>
          <small id="strategy">session strategy: {strategy()}</small>
        </header>
        <main>{children}</main>
      </body>
    </html>
  );
}
