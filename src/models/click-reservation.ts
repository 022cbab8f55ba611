import mongoose, { Schema, type Types } from 'mongoose';

/**
 * One document per click taken from a link's maxClicks: `_id` "<linkId>:<n>", n from 1 to the
 * limit. Inserting it is how a redirect takes click n, exactly once across every instance.
 * Only links with a limit have them; they go with the link.
 */
export interface ClickReservationDoc {
  _id: string;
  linkId: Types.ObjectId;
}

const clickReservationSchema = new Schema<ClickReservationDoc>(
  {
    _id: { type: String, required: true },
    linkId: { type: Schema.Types.ObjectId, required: true },
  },
  { versionKey: false },
);
clickReservationSchema.index({ linkId: 1 });

export const ClickReservation = mongoose.model<ClickReservationDoc>('ClickReservation', clickReservationSchema);
