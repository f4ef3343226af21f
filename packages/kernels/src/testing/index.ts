// Test helpers for every package.
export {};
