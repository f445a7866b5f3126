// The calendar lives in libs/contracts (devices count their history in it too); re-exported for the query builder's users.
export {
  CALENDAR_MIN_MS,
  CALENDAR_UNITS,
  calendarBuckets,
  fromLocal,
  localTime,
  maxBucketCount,
  nextUnitStart,
  unitStart,
  zoneOffset,
  type Bucket,
  type CalendarUnit,
  type LocalTime,
} from '@wattbus/contracts';
