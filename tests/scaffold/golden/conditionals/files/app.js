const a = 1;
const db = 'cosmos';
const nested = 'cosmos+jwt';
const actionable = 'uncommented';
