import type { NextRequest } from "next/server";

import { handlers } from "@/auth";
import { signInContext } from "@/lib/adapter";

// Each request gets its own sign-in context (see lib/adapter.ts).
export const GET = (req: NextRequest) => signInContext.run({}, () => handlers.GET(req));
export const POST = (req: NextRequest) => signInContext.run({}, () => handlers.POST(req));
